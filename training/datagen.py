"""Paired datasets from procedural scenes: sharded, resumable, with a manifest and a data card.

Layout of a dataset folder::

    DIR/samples/000012/scene.json          the scene description (seed, everything built)
    DIR/samples/000012/spp0004.exr (+json) noisy input at 4 spp, every pass
    DIR/samples/000012/reference.exr       high-spp target (kind "denoise")
    DIR/manifest.json, DIR/DATACARD.md     counts, spp, resolution, seconds per sample, size

A sample is rendered into ``.000012.tmp-<pid>`` and renamed when complete, so a killed run
leaves no half sample and a rerun skips the finished ones. Sample ``i`` of seed ``S`` always
shows the same scene, whichever shard or worker renders it.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from neural_ops.errors import NeuralRenderError

KINDS = ("denoise", "cg2real", "relight", "multiview")


@dataclass
class DataConfig:
    """What to generate.

    Attributes:
        kind: dataset kind (``denoise``).
        out: dataset folder.
        scenes: number of samples (one scene each).
        seed: dataset seed; sample i's scene seed derives from (seed, i).
        resolution: square image size.
        spp: noisy sample counts, each rendered with its own sampling seed.
        ref_spp: samples per pixel of the reference target.
        shard: (index, count): this process renders samples i with i % count == index.
        workers: local worker processes (each renders whole samples).
        lightings: relight: lightings per scene (K).
        views: multiview: views per scene (V).
        from_blend: a user's .blend to vary (camera and lighting) instead of procedural scenes.
        target: denoise targets: ``reference`` (one render at ``ref_spp``) or ``noise2noise``
            (an independent noisy render at ``ref_spp``, typically low, e.g. 16).
        executor: ``local`` (worker processes here) or ``ray`` (tasks on a Ray cluster; every
            node needs this package installed and ``out`` on shared storage).
        address: Ray cluster address (``host:port``; None starts a local Ray).
    """

    kind: str
    out: str
    scenes: int
    seed: int = 0
    resolution: int = 128
    spp: list[int] = field(default_factory=lambda: [1, 4, 16])
    ref_spp: int = 256
    shard: tuple[int, int] = (0, 1)
    workers: int = 1
    lightings: int = 4
    views: int = 8
    from_blend: str | None = None
    target: str = "reference"
    executor: str = "local"
    address: str | None = None

    def check(self) -> None:
        if self.kind not in KINDS:
            raise NeuralRenderError(f"unknown dataset kind '{self.kind}' (available: {', '.join(KINDS)})")
        if self.scenes < 1 or self.resolution < 16 or not self.spp or min(self.spp) < 1 or self.ref_spp < 1:
            raise NeuralRenderError("need --scenes >= 1, --resolution >= 16 and positive spp")
        if self.target not in ("reference", "noise2noise"):
            raise NeuralRenderError(f"unknown target '{self.target}' (reference or noise2noise)")
        if self.executor not in ("local", "ray"):
            raise NeuralRenderError(f"unknown executor '{self.executor}' (local or ray)")
        if self.from_blend and not Path(self.from_blend).is_file():
            raise NeuralRenderError(f"{self.from_blend}: no such .blend file")
        i, n = self.shard
        if not 0 <= i < n:
            raise NeuralRenderError(f"bad shard {i}/{n}: use i/n with 0 <= i < n")


def parse_shard(text: str) -> tuple[int, int]:
    try:
        i, n = (int(v) for v in text.split("/"))
    except ValueError:
        raise NeuralRenderError(f"bad --shard '{text}': use i/n, e.g. 0/4") from None
    if not 0 <= i < n:
        raise NeuralRenderError(f"bad shard {i}/{n}: use i/n with 0 <= i < n")
    return i, n


def sample_seed(dataset_seed: int, index: int) -> int:
    """Scene seed of sample ``index``: independent streams per sample, stable across shards."""
    return int(np.random.SeedSequence([dataset_seed, index]).generate_state(1)[0])


def sample_dir(out: Path, index: int) -> Path:
    return Path(out) / "samples" / f"{index:06d}"


def render_sample(cfg: DataConfig, index: int) -> dict:
    """Render one complete sample (bpy) and move it into place; returns its record."""
    from .scene_build import build_scene
    from .scene_spec import scene_spec

    out = Path(cfg.out)
    final = sample_dir(out, index)
    if final.exists():
        return json.loads((final / "sample.json").read_text())
    tmp = final.with_name(f".{final.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    t0 = time.perf_counter()
    seed = sample_seed(cfg.seed, index)
    if cfg.from_blend:
        from .user_scene import build_from

        scene, spec = build_from(cfg.from_blend, seed, (cfg.resolution, cfg.resolution))
    else:
        spec = scene_spec(seed)
        scene = build_scene(spec, out / "textures", (cfg.resolution, cfg.resolution))
    (tmp / "scene.json").write_text(json.dumps(spec, indent=1) + "\n")
    scene.render.threads_mode = "FIXED"
    scene.render.threads = max(1, (os.cpu_count() or 1) // max(1, cfg.workers))
    timings = KIND_RENDERERS[cfg.kind](scene, cfg, tmp, seed, spec)
    record = {"index": index, "kind": cfg.kind, "target": cfg.target, "seed": seed, "spp": cfg.spp, "ref_spp": cfg.ref_spp,
              "resolution": cfg.resolution, "seconds": round(time.perf_counter() - t0, 3), "render_seconds": timings}
    (tmp / "sample.json").write_text(json.dumps(record, indent=1) + "\n")
    os.replace(tmp, final)  # atomic: the sample appears whole or not at all
    return record


def _render(scene, tmp: Path, name: str, spp: int, seed: int, engine: str = "CYCLES", camera=None) -> float:
    """Render the scene camera (or ``camera``) with every pass to ``tmp/name``; returns seconds."""
    from addon import export

    t = time.perf_counter()
    ecfg = export.ExportConfig(directory=str(tmp), spp=spp, seed=seed % 2**31, overwrite=True, engine=engine)
    with export.export_settings(scene, ecfg):
        export.render_view(scene, export.View((camera or scene.camera).name, 1, tmp / name), ecfg)
    return round(time.perf_counter() - t, 3)


def _render_denoise(scene, cfg: DataConfig, tmp: Path, seed: int, spec: dict) -> dict:
    """Noisy inputs at each spp (independent sampling seeds) and the target: a high-spp
    reference, or for Noise2Noise an independent noisy render (its noise is uncorrelated with
    every input's, which is what lets it stand in for the clean image in an L2 loss)."""
    timings = {f"spp{n:04d}.exr": _render(scene, tmp, f"spp{n:04d}.exr", n, seed % 100000 + k)
               for k, n in enumerate(cfg.spp)}
    name = "reference.exr" if cfg.target == "reference" else "n2n_target.exr"
    timings[name] = _render(scene, tmp, name, cfg.ref_spp, seed % 100000 + 99)
    return timings


def _render_cg2real(scene, cfg: DataConfig, tmp: Path, seed: int, spec: dict) -> dict:
    """The raster images (EEVEE with its passes, Workbench) and the Cycles image of the same camera."""
    return {
        "eevee.exr": _render(scene, tmp, "eevee.exr", max(cfg.spp), seed, engine="BLENDER_EEVEE"),
        "workbench.exr": _render(scene, tmp, "workbench.exr", 1, seed, engine="BLENDER_WORKBENCH"),
        "cycles.exr": _render(scene, tmp, "cycles.exr", cfg.ref_spp, seed % 100000),
    }


def _render_relight(scene, cfg: DataConfig, tmp: Path, seed: int, spec: dict) -> dict:
    """The same scene and camera under K lightings; each lit image carries the G-buffer passes
    and ``lighting_k.json`` describes its lighting (HDRI file, rotation, strength; lights)."""
    from .scene_build import apply_lighting, studiolight_path
    from .scene_spec import lighting_variant

    timings = {}
    for k in range(cfg.lightings):
        light = lighting_variant(sample_seed(seed, k)) if k else spec  # lighting 0: the scene's own
        light = {"world": light["world"], "lights": light["lights"]}
        apply_lighting(scene, light)
        desc = {**light, "hdri_path": studiolight_path(light["world"]["hdri"]), "index": k}
        (tmp / f"lighting_{k}.json").write_text(json.dumps(desc, indent=1) + "\n")
        # One sampling seed for all lightings: the same pixel samples, so the G-buffer passes are
        # identical across lightings and only the light differs.
        timings[f"lit_{k}.exr"] = _render(scene, tmp, f"lit_{k}.exr", cfg.ref_spp, seed % 100000)
    return timings


def _render_multiview(scene, cfg: DataConfig, tmp: Path, seed: int, spec: dict) -> dict:
    """V views on a ring around the scene, with colour, depth, normal, albedo and a nerfstudio /
    BlenderNeRF ``transforms.json``."""
    from .multiview import add_ring_cameras, write_transforms

    cams = add_ring_cameras(scene, cfg.views, spec["camera"]["target"], np.random.default_rng(seed))
    timings = {}
    for v, cam in enumerate(cams):
        timings[f"r_{v:03d}.exr"] = _render(scene, tmp, f"r_{v:03d}.exr", cfg.ref_spp, seed % 100000 + v, camera=cam)
    write_transforms(tmp, scene, cams)
    return timings


KIND_RENDERERS = {
    "denoise": _render_denoise,
    "cg2real": _render_cg2real,
    "relight": _render_relight,
    "multiview": _render_multiview,
}


def _worker(args):
    cfg, index = args
    try:
        return render_sample(cfg, index)
    except Exception as e:  # report which sample failed; the others go on
        return {"index": index, "error": f"{type(e).__name__}: {e}"}


def generate(cfg: DataConfig, progress=print) -> list[dict]:
    """Render this shard's missing samples with local worker processes, then write the manifest."""
    cfg.check()
    out = Path(cfg.out)
    (out / "samples").mkdir(parents=True, exist_ok=True)
    for stale in (out / "samples").glob(".*.tmp-*"):
        shutil.rmtree(stale, ignore_errors=True)  # left by a killed run
    i, n = cfg.shard
    mine = [k for k in range(cfg.scenes) if k % n == i]
    todo = [k for k in mine if not sample_dir(out, k).exists()]
    progress(f"{cfg.kind}: {len(mine)} samples in shard {i}/{n}, {len(mine) - len(todo)} done, {len(todo)} to render")
    records, errors, t0 = [], [], time.perf_counter()
    if todo:
        if cfg.executor == "ray":
            for j, rec in enumerate(_run_ray(cfg, todo), 1):
                _report(rec, j, len(todo), t0, records, errors, progress)
        elif cfg.workers > 1:
            import multiprocessing as mp

            ctx = mp.get_context("spawn")  # bpy must start fresh in each worker
            with ctx.Pool(cfg.workers, maxtasksperchild=8) as pool:
                results = pool.imap_unordered(_worker, [(cfg, k) for k in todo])
                for j, rec in enumerate(results, 1):
                    _report(rec, j, len(todo), t0, records, errors, progress)
        else:
            for j, k in enumerate(todo, 1):
                _report(_worker((cfg, k)), j, len(todo), t0, records, errors, progress)
    write_manifest(cfg)
    if errors:
        raise NeuralRenderError(f"{len(errors)} sample(s) failed, first: sample {errors[0]['index']}: {errors[0]['error']}")
    return records


def _run_ray(cfg: DataConfig, todo: list[int]):
    """Yield sample records as Ray tasks finish; Ctrl-C cancels the tasks still pending."""
    try:
        import ray
    except ImportError:
        raise NeuralRenderError("--executor ray needs the 'ray' package: pip install ray") from None
    root = str(Path(__file__).resolve().parent.parent)
    try:
        ray.init(address=cfg.address, ignore_reinit_error=True, log_to_driver=False,
                 runtime_env={"env_vars": {"PYTHONPATH": root}})
    except (ConnectionError, RuntimeError, ValueError) as e:
        raise NeuralRenderError(f"cannot connect to Ray at {cfg.address or 'a new local cluster'}: {e}") from None
    task = ray.remote(num_cpus=1, max_retries=2)(_worker)
    pending = [task.remote((cfg, k)) for k in todo]
    try:
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            yield ray.get(done[0])
    except KeyboardInterrupt:
        for ref in pending:
            ray.cancel(ref, force=True)
        raise
    finally:
        ray.shutdown()


def _report(rec, j, total, t0, records, errors, progress):
    (errors if "error" in rec else records).append(rec)
    el = time.perf_counter() - t0
    eta = el / j * (total - j)
    what = f"failed: {rec['error']}" if "error" in rec else f"{rec['seconds']:.1f} s"
    progress(f"[{j}/{total}] sample {rec['index']:06d} {what} | elapsed {el:.0f} s, ETA {eta:.0f} s")


def _du(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def write_manifest(cfg: DataConfig) -> dict:
    """Manifest of every finished sample (from all shards) and a human-readable data card."""
    out = Path(cfg.out)
    samples = []
    for d in sorted((out / "samples").glob("[0-9]*")):
        try:
            samples.append(json.loads((d / "sample.json").read_text()))
        except (OSError, json.JSONDecodeError):
            continue
    secs = [s["seconds"] for s in samples]
    size = _du(out / "samples")
    man = {
        "kind": cfg.kind, "config": {k: v for k, v in asdict(cfg).items() if k not in ("out", "shard", "workers")},
        "count": len(samples), "seconds_per_sample": round(float(np.mean(secs)), 3) if secs else None,
        "bytes": size, "bytes_per_sample": size // max(1, len(samples)),
        "samples": [{"index": s["index"], "seed": s["seed"], "seconds": s["seconds"]} for s in samples],
    }
    (out / "manifest.json").write_text(json.dumps(man, indent=1) + "\n")
    card = (
        f"# Dataset card: {cfg.kind}\n\n"
        f"- samples: {len(samples)} of {cfg.scenes} requested (dataset seed {cfg.seed})\n"
        f"- resolution: {cfg.resolution}x{cfg.resolution}; input spp {cfg.spp}; reference {cfg.ref_spp} spp\n"
        f"- seconds per sample (mean, all renders of a sample): {man['seconds_per_sample']}\n"
        f"- disk: {size / 1e6:.1f} MB ({man['bytes_per_sample'] / 1e6:.2f} MB per sample)\n"
        f"- scenes: procedural (training/scene_spec.py), scene seed of sample i = SeedSequence([seed, i])\n"
    )
    (out / "DATACARD.md").write_text(card)
    return man
