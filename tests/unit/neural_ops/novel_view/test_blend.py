"""Learned blending: per-pixel K-best features, BlendNet, its trainer and evaluation, on small
synthetic scenes traced analytically in numpy (no bpy, no rendering)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from neural_ops import OpError, PassSet, write_exr
from neural_ops.core.cameras import Camera
from neural_ops.nn.weights import save_model
from neural_ops.novel_view import backward_warp, ulr_render
from neural_ops.novel_view.features import SourceView, blend_features
from neural_ops.novel_view.network import (
    SHARED_CHANNELS,
    SLOT_CHANNELS,
    BlendConfig,
    BlendNet,
    blend_image,
    load_blend_model,
    pack_features,
    push_pull,
)
from neural_ops.novel_view.views import ViewData, load_scene
from training.novel_view import train as ibr_train
from training.novel_view.data import (
    Example,
    ExampleStore,
    correspondence,
    jitter_camera,
    make_batch,
    make_example,
)
from training.novel_view.train import NovelViewTrainConfig, batch_loss


@pytest.fixture(autouse=True)
def one_thread(monkeypatch):
    """Tiny tensors: one torch thread (two threads spin against each other on a busy machine and
    run these steps ~100x slower); the trainer's own switch to every core is kept off too."""
    import neural_ops.nn.tiling

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    monkeypatch.setattr(neural_ops.nn.tiling, "set_threads", lambda: 1)
    yield
    torch.set_num_threads(n)


# -- a tiny analytic scene ---------------------------------------------------------------------

LIGHT = np.array([0.3, -0.4, 0.87]) / np.linalg.norm([0.3, -0.4, 0.87])


def look_at(eye, target=(0, 0, 0), up=(0, 0, 1)) -> np.ndarray:
    eye, target, up = (np.asarray(v, np.float64) for v in (eye, target, up))
    back = (eye - target) / np.linalg.norm(eye - target)
    right = np.cross(up, back)
    right /= np.linalg.norm(right)
    m = np.eye(4)
    m[:3, 0], m[:3, 1], m[:3, 2], m[:3, 3] = right, np.cross(back, right), back, eye
    return m


def ring_camera(deg: float, size=32, radius=4.0, height=3.0, f=40.0) -> Camera:
    a = np.radians(deg)
    return Camera(look_at((radius * np.cos(a), radius * np.sin(a), height)), f, f, size / 2, size / 2, size, size)


def trace(camera: Camera) -> ViewData:
    """A textured square (|x|, |y| < 2.5) on z = 0 with a grey square (half size 0.4) floating at
    z = 0.6 above it, in front of a sky gradient. Diffuse = texture; glossy = a Phong lobe
    around LIGHT's mirror direction, so it depends on the view; colour = diffuse + glossy."""
    o, d = camera.rays()
    best = np.full(d.shape[:2], np.inf)
    diffuse = np.zeros(d.shape, np.float64)
    for z0, half, tex in ((0.0, 2.5, "plane"), (0.6, 0.4, "grey")):
        with np.errstate(divide="ignore", invalid="ignore"):
            t = (z0 - o[..., 2]) / d[..., 2]
        p = o + t[..., None] * d
        hit = (t > 0) & (np.abs(p[..., :2]) < half).all(axis=-1) & (t < best)
        best = np.where(hit, t, best)
        if tex == "plane":
            c = np.stack([0.5 + 0.4 * np.sin(3 * p[..., 0]), 0.5 + 0.4 * np.cos(2 * p[..., 1]),
                          0.3 + 0.2 * np.sin(p[..., 0] + p[..., 1])], axis=-1)
        else:
            c = np.full(d.shape, 0.7)
        diffuse = np.where(hit[..., None], c, diffuse)
    geo = np.isfinite(best)
    mirror = d * np.array([1, 1, -1])  # every surface faces +z
    glossy = 0.6 * np.clip(mirror @ LIGHT, 0, 1)[..., None] ** 16 * geo[..., None] * np.ones(3)
    sky = np.stack([0.2 + 0.1 * d[..., 0], 0.3 + 0.1 * d[..., 1], 0.6 + 0.2 * d[..., 2]], axis=-1)
    color = np.where(geo[..., None], diffuse + glossy, sky)
    depth = np.where(geo, best * (d @ camera.forward), 0.0)
    normal = np.where(geo[..., None], np.array([0.0, 0.0, 1.0]), 0.0)
    f32 = np.float32
    return ViewData(camera, color.astype(f32), depth, normal.astype(f32), diffuse.astype(f32), glossy.astype(f32))


@pytest.fixture(scope="module")
def views() -> list[ViewData]:
    return [trace(ring_camera(a)) for a in (0, 50, 100, 160, 220, 290)]


def _penalties(target: Camera, depth: np.ndarray, src: ViewData, rw=0.25) -> np.ndarray:
    """ULR penalty of one source at each geometry pixel, written out independently."""
    x = target.unproject(depth)
    a, b = x - target.center, x - src.camera.center
    cos = (a * b).sum(-1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1))
    ang = np.arccos(np.clip(cos, -1, 1))
    return ang + rw * np.maximum(0, np.linalg.norm(b, axis=-1) / np.linalg.norm(a, axis=-1) - 1)


# -- features ----------------------------------------------------------------------------------


def test_feature_shapes_and_empty_slots(views):
    tv, srcs = views[0], [v.source() for v in views[1:4]]
    f = blend_features(tv.camera, srcs, tv.depth, k=5, target_normal=tv.normal)
    assert f.k == 5 and f.shape == (32, 32)
    for name, c in (("color", 3), ("valid", 1), ("penalty", 1), ("depth_diff", 1), ("ulr_weight", 1),
                    ("direction", 3), ("diffuse", 3), ("glossy", 3)):
        a = getattr(f, name)
        assert a.shape == (5, 32, 32, c) and a.dtype == np.float32, name
    assert f.source.shape == (5, 32, 32) and f.ulr.shape == (32, 32, 3) and f.ulr_valid.shape == (32, 32)
    # 3 sources for 5 slots: the last two are empty everywhere, and empty slots hold zeros.
    assert not f.valid[3:].any() and (f.source[3:] == -1).all()
    empty = f.valid[..., 0] == 0
    for a in (f.color, f.penalty, f.ulr_weight, f.direction, f.glossy):
        assert not a[empty].any()
    assert ((f.source >= 0) == ~empty).all()
    slots, shared = pack_features(f)
    assert slots.shape == (5, SLOT_CHANNELS, 32, 32) and shared.shape == (SHARED_CHANNELS, 32, 32)
    assert shared[10].min() == 1.0  # the normal is known
    with pytest.raises(OpError, match="glossy"):
        blend_features(tv.camera, [srcs[0], SourceView(srcs[1].camera, srcs[1].color, srcs[1].depth, srcs[1].diffuse)],
                       tv.depth)
    with pytest.raises(OpError, match="k >= 1"):
        blend_features(tv.camera, srcs, tv.depth, k=0)


def test_ulr_image_matches_ulr_render(views):
    tv = views[0]
    srcs = [v.source() for v in views[1:]]
    for depth in (tv.depth, None):
        f = blend_features(tv.camera, srcs, depth, k=3, ulr_k=3)
        img, _, ok = ulr_render(tv.camera, [(s.camera, s.color, s.depth) for s in srcs], depth, k=3)
        np.testing.assert_allclose(f.ulr, img, atol=1e-5)
        np.testing.assert_array_equal(f.ulr_valid, ok)
        hit = f.depth > 0
        assert 0.5 < hit.mean() < 0.95 and ok[hit].mean() > 0.95  # seen from all around: few holes
        assert not ok[~hit].all()  # the sources see only part of the target's sky


def test_slots_hold_the_k_best_sources_per_pixel(views):
    tv = trace(ring_camera(20))  # between sources 0 (0 deg) and 1 (50 deg)
    f = blend_features(tv.camera, [v.source() for v in views], tv.depth, k=3)
    hit = tv.depth > 0
    pen = np.stack([_penalties(tv.camera, tv.depth, v) for v in views])
    seen = np.stack([backward_warp(tv.camera, tv.depth, v.camera, v.color, v.depth).valid for v in views])
    best = np.argsort(np.where(seen, pen, np.inf), axis=0)[:3]
    n_valid = seen.sum(axis=0)
    for k in range(3):
        m = hit & (n_valid > k)
        np.testing.assert_array_equal(f.source[k][m], best[k][m])
        np.testing.assert_allclose(f.penalty[k, ..., 0][m], np.take_along_axis(pen, best[k : k + 1], 0)[0][m],
                                   rtol=1e-5, atol=1e-6)
    # The two nearest ring cameras fill slots 0 and 1 on most of the image.
    assert np.isin(f.source[0][hit], (0, 1)).mean() > 0.9
    assert np.diff(np.where(f.valid[..., 0] > 0, f.penalty[..., 0], 1e9), axis=0)[:, hit].min() >= 0
    # A target at a source's position: that source has penalty 0 and always comes first.
    same = trace(Camera(views[2].camera.c2w, 36.0, 36.0, 15.0, 17.0, 32, 32))
    g = blend_features(same.camera, [v.source() for v in views], same.depth, k=2)
    seen2 = g.valid[0, ..., 0] > 0
    own = backward_warp(same.camera, same.depth, views[2].camera, views[2].color, views[2].depth).valid & (same.depth > 0)
    assert (g.source[0][own] == 2).all() and own.mean() > 0.5
    assert seen2[own].all()


def test_depth_difference_and_environment_features(views):
    tv = trace(ring_camera(15))  # near source 0: they share much of their sky
    f = blend_features(tv.camera, [v.source() for v in views], tv.depth, k=4)
    ok = f.valid[..., 0] > 0
    assert f.depth_diff[ok].max() <= 0.03 + 1e-6
    sky = ~f.hit
    assert sky.any() and ok[:, sky].any()
    assert not f.depth_diff[:, sky].any()
    # At the environment the direction "to the source" is against the target ray.
    d = f.direction[:, sky][ok[:, sky]]
    ray = np.broadcast_to(f.view_dir[sky], (4, *f.view_dir[sky].shape))[ok[:, sky]]
    np.testing.assert_allclose(d, -ray, atol=1e-6)
    # On geometry, unit vectors that point towards the slot's source.
    dd = f.direction[ok & f.hit[None]]
    np.testing.assert_allclose(np.linalg.norm(dd, axis=-1), 1, atol=1e-5)


# -- the network -------------------------------------------------------------------------------


def _inputs(f) -> tuple[torch.Tensor, torch.Tensor]:
    s, sh = pack_features(f)
    return torch.from_numpy(s)[None], torch.from_numpy(sh)[None]


def _validity_average(f, part=None) -> np.ndarray:
    c = np.expm1(f.color) if part is None else part
    v = f.valid
    return (c * v).sum(0) / np.maximum(v.sum(0), 1)


@pytest.mark.parametrize("split", [False, True])
def test_untrained_net_returns_the_validity_weighted_average(views, split):
    torch.manual_seed(0)
    tv = views[0]
    f = blend_features(tv.camera, [v.source() for v in views[1:]], tv.depth, k=4, target_normal=tv.normal)
    net = BlendNet(BlendConfig(k=4, split=split)).eval()
    with torch.no_grad():
        out = net.parts(*_inputs(f))
    img = out["image"][0].permute(1, 2, 0).numpy()
    seen = f.ulr_valid
    expect = _validity_average(f)
    if split:  # the blended colour - glossy plus the blended glossy
        g = np.expm1(f.glossy)
        expect = _validity_average(f, np.maximum(np.expm1(f.color) - g, 0)) + _validity_average(f, g)
        assert out["glossy"].shape == (1, 3, 32, 32)
    np.testing.assert_allclose(img[seen], expect[seen], rtol=1e-4, atol=1e-5)
    # Not the same as ULR: the average weights every valid slot equally.
    w = out["weights"][0].numpy()
    np.testing.assert_allclose(w.sum(0)[seen], 1, atol=1e-5)
    np.testing.assert_allclose(w[:, seen], (f.valid[..., 0] / f.valid[..., 0].sum(0).clip(1))[:, seen], atol=1e-5)


def _randomise(net: BlendNet, seed=0) -> BlendNet:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.3 * torch.randn(p.shape, generator=g))
    return net.eval()


def test_invalid_views_get_zero_weight_and_cannot_leak(views):
    tv = views[0]
    f = blend_features(tv.camera, [v.source() for v in views[1:]], tv.depth, k=4)
    net = _randomise(BlendNet(BlendConfig(k=4)))
    s, sh = _inputs(f)
    with torch.no_grad():
        out = net.parts(s, sh)
        w = out["weights"][0]
        inv = s[0, :, 3] == 0
        assert inv.any() and (w[inv] == 0).all()
        assert (w.sum(0)[~inv.all(0)] - 1).abs().max() < 1e-5
        assert w.std() > 0.01  # the randomised logits do weigh views differently
        # Garbage in the invalid slots changes nothing.
        s2 = s.clone()
        s2[0, :, :3] += torch.where(inv, 5.0, 0.0)[:, None]
        s2[0, :, 4:] += torch.where(inv, 3.0, 0.0)[:, None]
        assert torch.equal(net(s2, sh), out["image"])


def test_holes_are_filled():
    h = w = 32
    k = 2
    slots = np.zeros((1, k, SLOT_CHANNELS, h, w), np.float32)
    slots[:, :, 0:3] = np.log1p(0.5)
    slots[:, :, 3] = 1.0
    slots[:, 1, 3, :, :16] = 0.0  # view 1 sees only the right half
    slots[:, :, 3, 10:20, 8:24] = 0.0  # nobody sees this block
    slots[:, :, 0:3] *= slots[:, :, 3:4]
    shared = np.zeros((1, SHARED_CHANNELS, h, w), np.float32)
    net = BlendNet(BlendConfig(k=k)).eval()
    with torch.no_grad():
        out = net.parts(torch.from_numpy(slots), torch.from_numpy(shared))
    hole = out["hole"][0, 0].numpy() > 0.5
    assert hole.sum() == 160 and hole[10:20, 8:24].all()
    img = out["image"][0].numpy()
    np.testing.assert_allclose(img[:, hole], 0.5, rtol=1e-4)  # filled from the (constant) surroundings
    np.testing.assert_allclose(img[:, ~hole], 0.5, rtol=1e-4)
    # Push-pull keeps known pixels and interpolates a ramp across a gap.
    x = torch.linspace(0, 1, 16).expand(1, 1, 16, 16).contiguous()
    m = torch.ones(1, 1, 16, 16)
    m[..., 6:10] = 0
    y = push_pull(x, m)
    assert torch.equal(y[m > 0], x[m > 0])
    gap = y[0, 0, :, 6:10]
    assert (gap > x[0, 0, 0, 5] - 0.05).all() and (gap < x[0, 0, 0, 10] + 0.05).all()


def test_net_runs_at_any_size_and_is_small():
    net = BlendNet(BlendConfig(k=3, split=True))
    n = sum(p.numel() for p in net.parameters())
    assert n < 300_000
    s = torch.rand(2, 3, SLOT_CHANNELS, 30, 21)
    s[:, :, 3] = (s[:, :, 3] > 0.2).float()
    y = net(s, torch.rand(2, SHARED_CHANNELS, 30, 21))
    assert y.shape == (2, 3, 30, 21) and torch.isfinite(y).all()
    with pytest.raises(ValueError, match="slots"):
        net(torch.rand(1, 3, 5, 16, 16), torch.rand(1, SHARED_CHANNELS, 16, 16))


def test_config_round_trip_and_checks(tmp_path, views):
    cfg = BlendConfig(channels=[8, 16, 24], k=3, split=True)
    assert BlendConfig.from_dict({**cfg.to_dict(), "unknown": 1}) == cfg
    with pytest.raises(ValueError, match="k"):
        BlendConfig(k=0).check()
    with pytest.raises(ValueError, match="levels"):
        BlendConfig(channels=[8]).check()
    net = _randomise(BlendNet(cfg), seed=3)
    path = save_model(net, {"kind": "ibr"}, tmp_path / "m.safetensors")
    loaded, card = load_blend_model(weights=str(path))
    assert card["config"] == cfg.to_dict() and loaded.cfg == cfg
    tv = views[0]
    f = blend_features(tv.camera, [v.source() for v in views[1:]], tv.depth, k=3)
    np.testing.assert_array_equal(blend_image(net, f), blend_image(loaded, f))


# -- training ----------------------------------------------------------------------------------


def test_jitter_correspondence_maps_pixels_onto_the_same_points(views):
    tv = views[0]
    same_uv, same_ok = correspondence(tv.camera, tv.depth, tv.camera, tv.depth)
    assert same_ok.all()
    np.testing.assert_allclose(same_uv, tv.camera.pixel_centers(), atol=1e-4)
    cam2 = jitter_camera(tv.camera, np.random.default_rng(0), 2.0, 0.05)
    assert 0.5 < np.degrees(np.arccos(np.clip(cam2.forward @ tv.camera.forward, -1, 1))) < 2.5
    moved = trace(cam2)
    uv, ok = correspondence(tv.camera, tv.depth, cam2, moved.depth)
    assert ok.mean() > 0.7
    assert np.abs(uv[ok] - tv.camera.pixel_centers()[ok]).max() > 0.3  # the camera did move
    # The moved view's diffuse colour, sampled where the correspondence points, is the target's.
    back = backward_warp(tv.camera, tv.depth, cam2, moved.diffuse, moved.depth)
    both = ok & back.valid & (tv.depth > 0)
    assert both.mean() > 0.5
    np.testing.assert_allclose(back.uv[both], uv[both], atol=1e-3)
    assert np.abs(back.color[both] - tv.diffuse[both]).mean() < 0.02


def _store(views, cfg, jitter=True) -> ExampleStore:
    store = ExampleStore.__new__(ExampleStore)
    rng = np.random.default_rng(0)
    store.examples = [make_example(views, t, cfg.model.k, mode, (0, t), (rng, 1.0, 0.01) if jitter else None)
                      for t in range(3) for mode in ("gbuffer", "splat")]
    store.jittered = [j for j, ex in enumerate(store.examples) if ex.jitter is not None]
    return store


@pytest.mark.parametrize("split", [False, True])
def test_a_few_steps_reduce_the_loss(views, split):
    torch.manual_seed(0)
    cfg = NovelViewTrainConfig(data="", out="", model=BlendConfig(channels=[8, 12], k=3, split=split), batch=3, crop=24,
                         temporal_batch=1)
    store = _store(views, cfg)
    assert isinstance(store.examples[0], Example) and store.examples[0].jitter is not None
    b = make_batch(store, np.random.default_rng(1), cfg)
    assert b["slots"].shape == (5, 3, SLOT_CHANNELS, 24, 24) and b["target"].shape == (4, 3, 24, 24)
    assert b["grid"].shape == (1, 24, 24, 2) and b["pair_mask"].sum() > 100
    net = BlendNet(cfg.model)
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    losses = []
    for _ in range(25):
        loss, logs = batch_loss(net, b, cfg)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(logs["loss"])
        assert "temporal" in logs and ("glossy" in logs) == split
    assert losses[-1] < 0.8 * losses[0]


def test_temporal_pairs_are_aligned(views):
    """The untrained net (an average of warped views) moves with the scene: its outputs for the
    target and the jittered camera agree once warped, far better than when misaligned by 3 px."""
    cfg = NovelViewTrainConfig(data="", out="", model=BlendConfig(channels=[8, 12], k=3), batch=1, crop=24,
                         temporal_batch=4, temporal_weight=1.0)
    store = _store(views, cfg)
    b = make_batch(store, np.random.default_rng(0), cfg)
    assert b["pair_mask"].mean() > 0.7
    net = BlendNet(cfg.model).eval()
    with torch.no_grad():
        _, good = batch_loss(net, b, cfg)
        _, bad = batch_loss(net, {**b, "grid": b["grid"] + 6 / 24}, cfg)
    assert good["temporal"] < 0.4 * good["l1"] and bad["temporal"] > 4 * good["temporal"]


def _write_dataset(root, scenes=3, angles=(0, 70, 150, 230, 300)):
    for i in range(scenes):
        d = root / "samples" / f"{i:06d}"
        d.mkdir(parents=True)
        frames = []
        for v, a in enumerate(angles):
            vd = trace(ring_camera(a + 13 * i))
            ps = PassSet(source=f"r_{v:03d}.exr")
            ps.add("Combined", np.concatenate([vd.color, np.ones((32, 32, 1), np.float32)], axis=2), "RGBA")
            ps.add("Depth", np.where(vd.depth > 0, vd.depth, 1e10).astype(np.float32)[..., None], "Z")
            ps.add("Normal", vd.normal, "XYZ")
            for kind, light in (("Diffuse", vd.diffuse), ("Glossy", vd.glossy)):
                ps.add(f"{kind} Color", np.ones((32, 32, 3), np.float32), "RGB")
                ps.add(f"{kind} Direct", light, "RGB")
                ps.add(f"{kind} Indirect", np.zeros((32, 32, 3), np.float32), "RGB")
            write_exr(ps, d / f"r_{v:03d}.exr", sidecar=False)
            frames.append({"file_path": f"r_{v:03d}.png", "exr_file_path": f"r_{v:03d}.exr",
                           "transform_matrix": vd.camera.c2w.tolist()})
        (d / "transforms.json").write_text(json.dumps({"fl_x": 40.0, "fl_y": 40.0, "cx": 16.0, "cy": 16.0, "w": 32,
                                                       "h": 32, "frames": frames}))
        (d / "sample.json").write_text(json.dumps({"index": i, "kind": "multiview"}))


def test_train_and_evaluate_end_to_end(tmp_path):
    from training.novel_view.eval import evaluate

    _write_dataset(tmp_path / "data")
    views = load_scene(tmp_path / "data" / "samples" / "000000")
    assert len(views) == 5 and views[0].glossy is not None and views[0].normal is not None
    np.testing.assert_allclose(views[1].glossy, trace(ring_camera(70)).glossy, atol=1e-6)
    cfg = NovelViewTrainConfig(data=str(tmp_path / "data"), out=str(tmp_path / "run"),
                         model=BlendConfig(channels=[8, 12], k=2, split=True), steps=6, batch=2, crop=24,
                         val_count=1, val_every=3, ckpt_every=3, max_targets=2, temporal_share=0.5)
    card = ibr_train.train(cfg, log=lambda m: None)
    saved = json.loads((tmp_path / "run" / "model.json").read_text())
    assert card["kind"] == saved["kind"] == "ibr" and saved["config"]["split"] is True
    assert np.isfinite(card["validation"]["val_psnr"]) and np.isfinite(card["validation"]["val_psnr_ulr"])
    assert (tmp_path / "run" / "model.safetensors").exists()
    lines = []
    res = evaluate(tmp_path / "data", {"tiny": str(tmp_path / "run" / "model.safetensors")}, tmp_path / "eval",
                   log=lines.append, max_samples=1, max_targets=2)
    assert set(res["mean"]) == {"ULR (G-buffer depth)", "tiny (G-buffer depth)", "ULR (splatted depth)",
                                "tiny (splatted depth)"}
    assert res["targets"] == 2 and all(np.isfinite(v["PSNR"]) for v in res["mean"].values())
    # The sky behind the ring is seen by few sources (holes), but the renderer-aware mode covers
    # more of the target than splatted depth and scores higher.
    assert res["coverage"]["gbuffer"] > 0.7 and res["coverage"]["gbuffer"] > res["coverage"]["splat"]
    assert res["mean"]["ULR (G-buffer depth)"]["PSNR"] > res["mean"]["ULR (splatted depth)"]["PSNR"]
    assert res["mean"]["ULR (G-buffer depth)"]["seen PSNR"] > 20  # where sources see, ULR is good
    assert (tmp_path / "eval" / "eval.md").exists() and (tmp_path / "eval" / "grid.png").exists()
    assert any("| method |" in m for m in lines)
    # Render 1 in 2, trained and evaluated that way: the flicker of the synthesised move is reported.
    cfg.every, cfg.out, cfg.max_targets = 2, str(tmp_path / "run2"), 0
    assert ibr_train.train(cfg, log=lambda m: None)["train"]["every"] == 2
    res = evaluate(tmp_path / "data", {"tiny": str(tmp_path / "run2" / "model.safetensors")}, None,
                   log=lines.append, max_samples=1, every=2)
    assert res["targets"] == 2 and all(np.isfinite(v["flicker"]) and v["flicker"] > 0 for v in res["mean"].values())


def test_render_one_in_n_sources():
    from training.novel_view.data import sparse_sources

    # Evaluation / inbetween keys of 9 views, 1 in 4: 0, 4, 8.
    assert sparse_sources(9, 5, 4, 2) == [0, 4, 8]
    assert sparse_sources(9, 1, 4, 1) == [0, 4]
    rng = np.random.default_rng(0)
    seen_phases = set()
    for _ in range(50):
        src = sparse_sources(12, 6, 4, 2, rng)
        assert 6 not in src and len({(j - src[0]) % 4 for j in src}) == 1  # keys 4 apart
        before, after = [j for j in src if j < 6], [j for j in src if j > 6]
        assert 1 <= len(before) <= 2 and 1 <= len(after) <= 2 and after[0] - before[-1] == 4
        seen_phases.add(6 - before[-1])
    assert seen_phases == {1, 2, 3}  # the target falls anywhere between two keys


def test_flicker_is_zero_for_the_rendered_move_and_grows_with_a_changed_frame(views):
    from training.novel_view.eval import reprojections, sequence_flicker

    move = [trace(ring_camera(a)) for a in (0, 8, 16, 24)]
    refs = [v.color for v in move]
    reproj = reprojections(move)
    assert reproj[0] is None and all(r[2].mean() > 0.5 for r in reproj[1:])  # neighbours overlap
    assert sequence_flicker(refs, refs, reproj) == 0.0
    brighter = [r * (1.3 if i == 2 else 1.0) for i, r in enumerate(refs)]
    f1 = sequence_flicker(brighter, refs, reproj)
    assert f1 > 0.02
    # The whole sequence brighter by the same factor changes frames but hardly flickers.
    assert sequence_flicker([r * 1.3 for r in refs], refs, reproj) < 0.3 * f1


def test_train_config_checks():
    from neural_ops.core.errors import NeuralRenderError

    with pytest.raises(NeuralRenderError, match="depth mode"):
        NovelViewTrainConfig(data="", out="", depth="lidar").check()
    with pytest.raises(NeuralRenderError, match="k"):
        NovelViewTrainConfig(data="", out="", model=BlendConfig(k=0)).check()
    with pytest.raises(NeuralRenderError, match="every"):
        NovelViewTrainConfig(data="", out="", every=1).check()


def test_views_can_be_denoised_with_oidn():
    """A noisy view through OIDN (colour and both light components) is closer to the clean one;
    depth and normal are untouched."""
    pytest.importorskip("pyoidn")
    from neural_ops.core.metrics import psnr
    from neural_ops.novel_view.views import view_from_passes

    clean = trace(ring_camera(30, size=64))
    rng = np.random.default_rng(0)
    ps = PassSet(source="noisy view")
    noisy = lambda x: np.maximum(x * rng.gamma(4.0, 0.25, x.shape), 0).astype(np.float32)  # noqa: E731
    ps.add("Combined", np.concatenate([noisy(clean.color), np.ones((64, 64, 1), np.float32)], axis=2))
    ps.add("Depth", clean.depth.astype(np.float32), "Z")
    ps.add("Normal", clean.normal)
    ps.add("Denoising Albedo", np.where(clean.depth[..., None] > 0, clean.diffuse, 0.5).astype(np.float32))
    for kind, light in (("Diffuse", clean.diffuse), ("Glossy", clean.glossy)):
        ps.add(f"{kind} Color", np.ones_like(light))
        ps.add(f"{kind} Direct", noisy(light))
        ps.add(f"{kind} Indirect", np.zeros_like(light))
    raw = view_from_passes(ps, clean.camera)
    den = view_from_passes(ps, clean.camera, denoise=True)
    assert psnr(den.color, clean.color) > psnr(raw.color, clean.color) + 3
    assert psnr(den.diffuse, clean.diffuse) > psnr(raw.diffuse, clean.diffuse) + 3
    assert den.glossy is not None and np.array_equal(den.depth, raw.depth) and np.array_equal(den.normal, raw.normal)


def test_bf16_blending_matches_float32(views):
    """bfloat16 convolutions (used where the CPU has them natively) change the image by a fraction
    of a percent; the shipped weights through both paths."""
    from neural_ops.novel_view.network import bf16_supported

    net, _ = load_blend_model(model="default")
    feats = blend_features(views[1].camera, [v.source() for i, v in enumerate(views) if i != 1], None, k=net.cfg.k)
    a = blend_image(net, feats, bf16=False)
    b = blend_image(net, feats, bf16=True)
    assert a.shape == b.shape == views[1].color.shape and b.dtype == np.float32
    assert np.mean(np.abs(a - b) / (np.abs(a) + 0.01)) < 0.01
    assert np.array_equal(blend_image(net, feats), b if bf16_supported() else a)
