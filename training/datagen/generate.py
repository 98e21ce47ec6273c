"""Paired datasets from procedural scenes: sharded, resumable, with a manifest and a data card.

Layout of a dataset folder::

    DIR/samples/000012/scene.json          the scene description (seed, everything built)
    DIR/samples/000012/spp0004.exr (+json) noisy input at 4 spp, every pass
    DIR/samples/000012/reference.exr       high-spp target (kind "denoise")
    DIR/manifest.json, DIR/DATACARD.md     counts, spp, resolution, seconds per sample, size

A sample is rendered into ``.000012.tmp-<host>-<pid>`` and renamed when complete, so a killed
run leaves no half sample and a rerun skips the finished ones. A rerun removes only stale
temporary folders (this host's with a dead pid, or any older than ``STALE_TMP_SECONDS``), so
shards sharing the folder from several processes or machines never delete each other's work.
Sample ``i`` of seed ``S`` always shows the same scene, whichever shard or worker renders it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import sys
import time
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

import numpy as np

from neural_ops.cli.args import parse_ints
from neural_ops.core.errors import NeuralRenderError
from neural_ops.core.outputs import check_writable, make_folder

KINDS = ("denoise", "cg2real", "relight", "multiview")
#: Other names of a kind: multi-view datasets are what the novel_view op trains on.
KIND_ALIASES = {"novel-view": "multiview", "novel_view": "multiview"}

# A foreign host's temporary sample folder untouched for this long is assumed abandoned: its pid
# cannot be checked from here, and no single sample takes hours to render.
STALE_TMP_SECONDS = 6 * 3600


@dataclass
class DataConfig:
    """What to generate (``neural-render data KIND``; each field is an argument)."""

    kind: str = field(metadata={"positional": True, "choices": (*KINDS, "novel-view")})
    """Dataset kind."""
    out: str = field(metadata={"flag": ("-o", "--output")})
    """Dataset folder (rerun to resume)."""
    scenes: int = field(metadata={"min": 1})
    """Number of samples, one scene each."""
    seed: int = 0
    """Dataset seed; sample i's scene seed derives from (seed, i)."""
    resolution: int = field(default=128, metadata={"min": 16})
    """Square image size."""
    spp: list[int] = field(default_factory=lambda: [1, 4, 16])
    """Noisy sample counts, each rendered with its own sampling seed."""
    ref_spp: int = field(default=256, metadata={"min": 1})
    """Samples per pixel of the reference target."""
    families: list[str] = field(default_factory=lambda: ["mixed"], metadata={"flag": "--family"})
    """Procedural scene families (repeatable or comma-separated), cycled over the samples (sample i is of family i mod n):
    mixed (random rooms), window (a closed room lit through a window), small_lights, dark, textured (bump
    maps), glass, metal, dof, motion (motion blur)."""
    shard: tuple[int, int] = field(default=(0, 1), metadata={
        "parse": lambda text: parse_shard(text), "metavar": "I/N", "format": lambda v: f"{v[0]}/{v[1]}"})
    """Render only shard I of N: the samples i with i % N == I."""
    workers: int = field(default=1, metadata={"min": 1})
    """Local worker processes (each renders whole samples)."""
    lightings: int = field(default=4, metadata={"kinds": ("relight",), "min": 1})
    """relight: lightings per scene (K)."""
    views: int = field(default=8, metadata={"kinds": ("multiview",), "min": 2})
    """multiview: views per scene (V)."""
    arc: float = field(default=360.0, metadata={"kinds": ("multiview",)})
    """multiview: degrees the views span; 360 a jittered full ring, less an ordered camera move whose
    neighbouring views overlap (for learned blending)."""
    from_blend: str | None = field(default=None, metadata={"flag": "--from", "metavar": "SCENE.blend"})
    """Vary cameras and lights over this .blend instead of procedural scenes."""
    target: str = field(default="reference", metadata={"choices": ("reference", "noise2noise"), "kinds": ("denoise",)})
    """denoise targets: a high-spp reference (one render at ref_spp) or noise2noise (an independent noisy
    render at ref_spp, typically low, e.g. 16)."""
    executor: str = field(default="local", metadata={"choices": ("local", "ray")})
    """local (worker processes here) or ray (tasks on a Ray cluster; every node needs this package installed
    and out on shared storage)."""
    address: str | None = None
    """Ray cluster address host:port (with --executor ray; none starts a local Ray)."""
    redo_stale: bool = field(default=False, metadata={"flag": "--redo-stale"})
    """First delete procedural samples whose scene the generator no longer builds for their seed
    (:func:`stale_samples`), so they are rendered again (after a generator fix)."""
    eevee: str = field(default="tuned", metadata={"choices": ("tuned", "default"), "kinds": ("cg2real",)})
    """cg2real: the EEVEE set-up of the raster images (:mod:`addon.blender.eevee_setup`): tuned (ray tracing
    and a baked light-probe volume, as an artist renders a final frame) or default (Blender's defaults);
    recorded in each sample.json."""
    redo_eevee: bool = field(default=False, metadata={"flag": "--redo-eevee", "kinds": ("cg2real",)})
    """cg2real: first re-render the EEVEE image of existing samples made with another --eevee set-up (the
    Cycles targets are kept)."""

    def check(self) -> None:
        self.kind = KIND_ALIASES.get(self.kind, self.kind)
        if self.kind not in KINDS:
            raise NeuralRenderError(f"unknown dataset kind '{self.kind}' (available: {', '.join(KINDS)})")
        for f in fields(self):
            kinds = f.metadata.get("kinds")
            if kinds and self.kind not in kinds and getattr(self, f.name) != f.default:
                flag = "--" + f.name.replace("_", "-")
                raise NeuralRenderError(f"{flag} applies to 'data {' / '.join(kinds)}' only, not to 'data {self.kind}'")
        if not 0 < self.arc <= 360:
            raise NeuralRenderError(f"--arc must be in (0, 360] degrees, got {self.arc}")
        if self.scenes < 1 or self.resolution < 16 or not self.spp or min(self.spp) < 1 or self.ref_spp < 1:
            raise NeuralRenderError("need --scenes >= 1, --resolution >= 16 and positive spp")
        if self.eevee not in ("default", "tuned"):
            raise NeuralRenderError(f"unknown EEVEE set-up '{self.eevee}' (default or tuned)")
        if self.target not in ("reference", "noise2noise"):
            raise NeuralRenderError(f"unknown target '{self.target}' (reference or noise2noise)")
        if self.executor not in ("local", "ray"):
            raise NeuralRenderError(f"unknown executor '{self.executor}' (local or ray)")
        if self.from_blend and not Path(self.from_blend).is_file():
            raise NeuralRenderError(f"{self.from_blend}: no such .blend file")
        from ..scenes.spec import FAMILIES

        self.families = [f.strip() for item in self.families for f in item.split(",") if f.strip()]
        bad = [f for f in self.families if f not in FAMILIES]
        if bad or not self.families:
            raise NeuralRenderError(f"unknown scene family '{(bad or [''])[0]}' (one or more of {', '.join(FAMILIES)})")
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


def parse_spp(text: str) -> list[int]:
    """'1,4,16' -> [1, 4, 16]; a clear error naming the bad value otherwise."""
    return parse_ints(text, "--spp")


def sample_seed(dataset_seed: int, index: int) -> int:
    """Scene seed of sample ``index``: independent streams per sample, stable across shards."""
    return int(np.random.SeedSequence([dataset_seed, index]).generate_state(1)[0])


def sample_dir(out: Path, index: int) -> Path:
    return Path(out) / "samples" / f"{index:06d}"


def _host() -> str:
    """This machine's name, safe in a file name (``-`` is kept: the pid is split off at the last one)."""
    return re.sub(r"[^A-Za-z0-9.-]", "_", socket.gethostname()) or "localhost"


def tmp_name(index: int) -> str:
    """Temporary folder name of sample ``index`` rendered by this process: ``.000012.tmp-<host>-<pid>``."""
    return f".{index:06d}.tmp-{_host()}-{os.getpid()}"


def _pid_alive(pid: int) -> bool:
    """Whether process ``pid`` runs on this machine (unsure counts as alive: never delete live work)."""
    if pid <= 0:
        return False
    if sys.platform == "win32":  # os.kill(pid, 0) would terminate the process on Windows
        import ctypes

        k32 = ctypes.windll.kernel32
        handle = k32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
        if not handle:
            return k32.GetLastError() == 5  # access denied: it exists
        code = ctypes.c_ulong()
        ok = k32.GetExitCodeProcess(handle, ctypes.byref(code))
        k32.CloseHandle(handle)
        return not ok or code.value == 259  # STILL_ACTIVE
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # e.g. EPERM: it exists, owned by someone else
        return True
    return True


def _last_touched(path: Path) -> float:
    """Newest mtime of a folder and its files: a live render keeps adding files."""
    times = [path.stat().st_mtime]
    times += [p.stat().st_mtime for p in path.rglob("*")]
    return max(times)


def is_stale_tmp(path: Path, now: float | None = None) -> bool:
    """Whether a temporary sample folder was left by a dead run and may be removed.

    This host's folder is stale when its pid is dead; another host's (or an old-style
    ``.tmp-<pid>`` folder, whose host is unknown) only when untouched for ``STALE_TMP_SECONDS``.
    """
    owner = path.name.partition(".tmp-")[2]
    host, _, pid = owner.rpartition("-")
    try:
        if host == _host() and pid.isdigit():
            return not _pid_alive(int(pid))
        return (now or time.time()) - _last_touched(path) > STALE_TMP_SECONDS
    except OSError:  # vanished meanwhile (its owner finished or cleaned it): nothing to remove
        return False


def remove_stale_tmps(out: Path) -> list[Path]:
    """Delete the stale temporary sample folders in ``out/samples``; returns them."""
    stale = [p for p in (Path(out) / "samples").glob(".*.tmp-*") if is_stale_tmp(p)]
    for p in stale:
        shutil.rmtree(p, ignore_errors=True)
    return stale


def render_sample(cfg: DataConfig, index: int) -> dict:
    """Render one complete sample (bpy) and move it into place; returns its record."""
    from ..scenes.build import build_scene
    from ..scenes.spec import scene_spec

    out = Path(cfg.out)
    final = sample_dir(out, index)
    if final.exists():
        return json.loads((final / "sample.json").read_text())
    tmp = final.with_name(tmp_name(index))
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    t0 = time.perf_counter()
    seed = sample_seed(cfg.seed, index)
    if cfg.from_blend:
        from ..scenes.user_scene import build_from

        scene, spec = build_from(cfg.from_blend, seed, (cfg.resolution, cfg.resolution))
    else:
        spec = scene_spec(seed, cfg.families[index % len(cfg.families)])
        scene = build_scene(spec, out / "textures", (cfg.resolution, cfg.resolution))
    (tmp / "scene.json").write_text(json.dumps(spec, indent=1) + "\n")
    scene.render.threads_mode = "FIXED"
    scene.render.threads = max(1, (os.cpu_count() or 1) // max(1, cfg.workers))
    timings = KIND_RENDERERS[cfg.kind](scene, cfg, tmp, seed, spec)
    record = {"index": index, "kind": cfg.kind, "target": cfg.target, "seed": seed, "spp": cfg.spp, "ref_spp": cfg.ref_spp,
              "resolution": cfg.resolution, "seconds": round(time.perf_counter() - t0, 3), "render_seconds": timings}
    if cfg.kind == "cg2real":
        record["eevee"] = cfg.eevee
    (tmp / "sample.json").write_text(json.dumps(record, indent=1) + "\n")
    os.replace(tmp, final)  # atomic: the sample appears whole or not at all
    return record


def render_timed(scene, tmp: Path, name: str, spp: int, seed: int, engine: str = "CYCLES", camera=None) -> float:
    """Render the scene camera (or ``camera``) with every pass to ``tmp/name``; returns seconds."""
    from addon.blender import export

    t = time.perf_counter()
    ecfg = export.ExportConfig(directory=str(tmp), spp=spp, seed=seed % 2**31, overwrite=True, engine=engine)
    with export.export_settings(scene, ecfg):
        export.render_view(scene, export.View((camera or scene.camera).name, 1, tmp / name), ecfg)
    return round(time.perf_counter() - t, 3)


def _render_denoise(scene, cfg: DataConfig, tmp: Path, seed: int, spec: dict) -> dict:
    """Noisy inputs at each spp (independent sampling seeds) and the target: a high-spp
    reference, or for Noise2Noise an independent noisy render (its noise is uncorrelated with
    every input's, which is what lets it stand in for the clean image in an L2 loss)."""
    timings = {f"spp{n:04d}.exr": render_timed(scene, tmp, f"spp{n:04d}.exr", n, seed % 100000 + k)
               for k, n in enumerate(cfg.spp)}
    name = "reference.exr" if cfg.target == "reference" else "n2n_target.exr"
    timings[name] = render_timed(scene, tmp, name, cfg.ref_spp, seed % 100000 + 99)
    return timings


def _render_eevee(scene, cfg: DataConfig, tmp: Path, name: str, seed: int) -> dict:
    """The EEVEE image with every pass, after :func:`addon.blender.eevee_setup.prepare_eevee`."""
    from addon.blender.eevee_setup import prepare_eevee

    info = prepare_eevee(scene, cfg.eevee)
    timings = {name: render_timed(scene, tmp, name, max(cfg.spp), seed, engine="BLENDER_EEVEE")}
    if "bake_seconds" in info:
        timings["eevee_bake"] = info["bake_seconds"]
    return timings


def _render_cg2real(scene, cfg: DataConfig, tmp: Path, seed: int, spec: dict) -> dict:
    """The raster images (EEVEE with its passes, Workbench) and the Cycles image of the same camera."""
    return {
        **_render_eevee(scene, cfg, tmp, "eevee.exr", seed),
        "workbench.exr": render_timed(scene, tmp, "workbench.exr", 1, seed, engine="BLENDER_WORKBENCH"),
        "cycles.exr": render_timed(scene, tmp, "cycles.exr", cfg.ref_spp, seed % 100000),
    }


def _render_relight(scene, cfg: DataConfig, tmp: Path, seed: int, spec: dict) -> dict:
    """The same scene and camera under K lightings; each lit image carries the G-buffer passes
    and ``lighting_k.json`` describes its lighting (HDRI file, rotation, strength; lights).
    ``lit_k_sppNNNN.exr``: the same lighting at each (lower) ``spp``, an independent sampling seed.
    Then ``grad_a.exr`` / ``grad_b.exr``: the frame under spherical gradient illumination
    (world colour (1 +- w) / 2 per axis, no lights), for the gradient-illumination route."""
    from addon.blender.lighting import apply_lighting, studiolight_path

    from ..scenes.spec import lighting_variant

    timings = {}
    for k in range(cfg.lightings):
        light = lighting_variant(sample_seed(seed, k)) if k else spec  # lighting 0: the scene's own
        light = {"world": light["world"], "lights": light["lights"]}
        apply_lighting(scene, light)
        desc = {**light, "hdri_path": studiolight_path(light["world"]["hdri"]), "index": k}
        (tmp / f"lighting_{k}.json").write_text(json.dumps(desc, indent=1) + "\n")
        # One sampling seed for all lightings: the same pixel samples, so the G-buffer passes are
        # identical across lightings and only the light differs.
        timings[f"lit_{k}.exr"] = render_timed(scene, tmp, f"lit_{k}.exr", cfg.ref_spp, seed % 100000)
        # Cheap re-renders under the same lighting (e.g. 16 spp, for "re-render + OIDN" baselines).
        for n in cfg.spp:
            if n < cfg.ref_spp:
                name = f"lit_{k}_spp{n:04d}.exr"
                timings[name] = render_timed(scene, tmp, name, n, seed % 100000 + 1 + n)
    # The capture route (Relightables): the same frame under a spherical gradient world and its
    # complement, nothing else lit; albedo, photometric normal and gloss are recovered from them.
    from ..scenes.build import apply_gradient_world

    for name, sign in (("grad_a.exr", 1.0), ("grad_b.exr", -1.0)):
        apply_gradient_world(scene, sign)
        timings[name] = render_timed(scene, tmp, name, cfg.ref_spp, seed % 100000)
    return timings


def _render_multiview(scene, cfg: DataConfig, tmp: Path, seed: int, spec: dict) -> dict:
    """V views on a ring around the scene, with colour, depth, normal, albedo and a nerfstudio /
    BlenderNeRF ``transforms.json``."""
    from .multiview import add_ring_cameras, write_transforms

    cams = add_ring_cameras(scene, cfg.views, spec["camera"]["target"], np.random.default_rng(seed), cfg.arc)
    timings = {}
    for v, cam in enumerate(cams):
        timings[f"r_{v:03d}.exr"] = render_timed(scene, tmp, f"r_{v:03d}.exr", cfg.ref_spp, seed % 100000 + v, camera=cam)
    write_transforms(tmp, scene, cams)
    return timings


KIND_RENDERERS = {
    "denoise": _render_denoise,
    "cg2real": _render_cg2real,
    "relight": _render_relight,
    "multiview": _render_multiview,
}


def _init_worker() -> None:
    """Let a spawned worker import bpy. It inherits the parent's ``sys.path``, which the parent's
    ``import bpy`` extended with Blender's script folders; their pure-Python ``bpy`` package
    (which needs the ``_bpy`` built into a running Blender) would shadow the bpy module. Drop
    those folders; importing bpy puts them back."""
    import importlib.util

    if importlib.util.find_spec("_bpy") is None:
        sys.path[:] = [p for p in sys.path if not os.path.isfile(os.path.join(p, "bpy", "__init__.py"))]


def _worker(args):
    cfg, index = args
    try:
        return render_sample(cfg, index)
    except Exception as e:  # report which sample failed; the others go on
        return {"index": index, "error": f"{type(e).__name__}: {e}"}


def eevee_mismatched(out: Path, setup: str) -> list[int]:
    """cg2real samples whose EEVEE image was made with another set-up than ``setup`` (samples
    from before set-ups were recorded had Blender's defaults)."""
    found = []
    for p in sorted((Path(out) / "samples").glob("[0-9]*/sample.json")):
        try:
            rec = json.loads(p.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        if rec.get("kind") == "cg2real" and rec.get("eevee", "default") != setup:
            found.append(int(p.parent.name))
    return found


def redo_eevee_image(cfg: DataConfig, index: int) -> dict:
    """Re-render sample ``index``'s EEVEE image with ``cfg.eevee`` (atomically, in place) and
    update its ``sample.json``; the other images are kept."""
    from ..scenes.build import build_scene

    d = sample_dir(Path(cfg.out), index)
    rec = json.loads((d / "sample.json").read_text())
    spec = json.loads((d / "scene.json").read_text())
    if "seed" not in spec or "objects" not in spec:
        raise NeuralRenderError(f"sample {index}: not a procedural scene; delete it to render it again")
    res = int(rec.get("resolution", cfg.resolution))
    scene = build_scene(spec, Path(cfg.out) / "textures", (res, res))
    scene.render.threads_mode = "FIXED"
    scene.render.threads = max(1, os.cpu_count() or 1)
    tmp = d / f".eevee.{tmp_name(index)}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        timings = _render_eevee(scene, replace(cfg, spp=rec.get("spp") or cfg.spp), tmp, "eevee.exr", int(rec["seed"]))
        for f in tmp.iterdir():
            os.replace(f, d / f.name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    rec["render_seconds"] = {**rec.get("render_seconds", {}), **timings}
    rec["eevee"] = cfg.eevee
    _write_atomic(d / "sample.json", json.dumps(rec, indent=1) + "\n")
    return rec


def stale_samples(out: Path) -> list[int]:
    """Procedural samples whose ``scene.json`` is not what :func:`scene_spec` now builds for their
    seed (e.g. after a fix that moves cameras out of objects); samples from a user's .blend are
    never stale."""
    from ..scenes.spec import scene_spec

    stale = []
    for p in sorted((Path(out) / "samples").glob("[0-9]*/scene.json")):
        try:
            spec = json.loads(p.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        if "seed" in spec and "objects" in spec and scene_spec(int(spec["seed"]), spec.get("family", "mixed")) != spec:
            stale.append(int(p.parent.name))
    return stale


def generate(cfg: DataConfig, progress=None) -> list[dict]:
    """Render this shard's missing samples with local worker processes, then write the manifest.

    Args:
        cfg: what to generate.
        progress: called with one message string per event (e.g. ``print``; the messages are
            plain lines with an ETA). An object that also has ``step(done, total, elapsed, record)``
            and ``close()`` (like ``ConsoleProgress``) gets the per-sample updates through
            ``step`` instead. Default: ``ConsoleProgress()`` on stdout.

    Returns:
        the records of the samples rendered by this call.
    """
    cfg.check()
    progress = ConsoleProgress() if progress is None else progress
    out = Path(cfg.out)
    check_writable(out / "samples" / "manifest.json", overwrite=True)  # a file in the way, or read-only: one line
    make_folder(out / "samples")
    remove_stale_tmps(out)  # left by killed runs; live shards' folders stay
    if cfg.redo_stale:
        for k in stale_samples(out):
            progress(f"re-rendering sample {k:06d}: the scene generator now builds a different scene for its seed")
            shutil.rmtree(sample_dir(out, k))
    i, n = cfg.shard
    if cfg.redo_eevee and cfg.kind == "cg2real":
        redo = [k for k in eevee_mismatched(out, cfg.eevee) if k % n == i]
        t0 = time.perf_counter()
        for j, k in enumerate(redo, 1):
            redo_eevee_image(cfg, k)
            progress(f"[{j}/{len(redo)}] EEVEE image of sample {k:06d} re-rendered ({cfg.eevee}) | "
                     f"elapsed {time.perf_counter() - t0:.0f} s")
    mine = [k for k in range(cfg.scenes) if k % n == i]
    todo = [k for k in mine if not sample_dir(out, k).exists()]
    progress(f"{cfg.kind}: {len(mine)} samples in shard {i}/{n}, {len(mine) - len(todo)} done, {len(todo)} to render")
    records, errors, t0 = [], [], time.perf_counter()
    if todo:
        step = getattr(progress, "step", None)
        if step:
            step(0, len(todo), 0.0, None)
        try:
            if cfg.executor == "ray":
                for j, rec in enumerate(_run_ray(cfg, todo), 1):
                    _report(rec, j, len(todo), t0, records, errors, progress)
            elif cfg.workers > 1:
                import multiprocessing as mp

                ctx = mp.get_context("spawn")  # bpy must start fresh in each worker
                with ctx.Pool(cfg.workers, initializer=_init_worker, maxtasksperchild=8) as pool:
                    results = pool.imap_unordered(_worker, [(cfg, k) for k in todo])
                    for j, rec in enumerate(results, 1):
                        _report(rec, j, len(todo), t0, records, errors, progress)
            else:
                for j, k in enumerate(todo, 1):
                    _report(_worker((cfg, k)), j, len(todo), t0, records, errors, progress)
        finally:
            if hasattr(progress, "close"):
                progress.close()
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
    step = getattr(progress, "step", None)
    if step:
        step(j, total, el, rec)
    else:
        progress(progress_line(j, total, el, rec))


def progress_line(done: int, total: int, elapsed: float, rec: dict) -> str:
    """One log line per finished sample: ``[3/10] sample 000007 4.2 s | elapsed 13 s, ETA 30 s``."""
    eta = elapsed / done * (total - done)
    what = f"failed: {rec['error']}" if "error" in rec else f"{rec['seconds']:.1f} s"
    return f"[{done}/{total}] sample {rec['index']:06d} {what} | elapsed {elapsed:.0f} s, ETA {eta:.0f} s"


def _hms(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


def _rate(per_second: float) -> str:
    """Samples per second, minute or hour, whichever reads best."""
    for unit, k in (("s", 1), ("min", 60), ("h", 3600)):
        if per_second * k >= 1 or unit == "h":
            return f"{per_second * k:.1f}/{unit}"


class ConsoleProgress:
    """Progress of ``generate`` on a console: a single carriage-return updated bar on a terminal
    (bar, done/total, rate, ETA), plain lines (``progress_line``) when the stream is a log file
    or a pipe. Messages and failed samples print as lines above the bar.

    Args:
        stream: where to write (default ``sys.stdout``).
        tty: force the bar on or off (default: ``stream.isatty()``).
    """

    def __init__(self, stream=None, tty: bool | None = None):
        self.stream = stream or sys.stdout
        self.tty = self.stream.isatty() if tty is None else tty
        self._bar = ""  # the bar currently on screen, "" when none

    def _write(self, text: str) -> None:
        self.stream.write(text)
        self.stream.flush()

    def __call__(self, message: str) -> None:
        """A message on its own line (above the bar when one is showing)."""
        if self._bar:
            self._write("\r\033[K" + message + "\n" + self._bar)
        else:
            self._write(message + "\n")

    def step(self, done: int, total: int, elapsed: float, rec: dict | None) -> None:
        """``done`` of ``total`` samples finished after ``elapsed`` seconds, the last being ``rec``."""
        if not self.tty:
            if rec is not None:
                self(progress_line(done, total, elapsed, rec))
            return
        if rec is not None and "error" in rec:
            self(f"sample {rec['index']:06d} failed: {rec['error']}")
        self._bar = self.bar(done, total, elapsed)
        self._write("\r\033[K" + self._bar)

    def bar(self, done: int, total: int, elapsed: float) -> str:
        rate = done / elapsed if done and elapsed > 0 else 0.0
        stats = f" {done}/{total} | {_rate(rate) if rate else '-'} | ETA {_hms((total - done) / rate) if rate else '-'}"
        width = max(10, min(40, shutil.get_terminal_size((80, 20)).columns - len(stats) - 3))
        fill = width * done // max(1, total)
        return "[" + "#" * fill + "." * (width - fill) + "]" + stats

    def close(self) -> None:
        """End the bar's line so what follows starts on a new one."""
        if self._bar:
            self._write("\n")
            self._bar = ""


def _write_atomic(path: Path, text: str) -> None:
    """Write through a per-process temporary file and rename: shards writing the manifest at the
    same time leave one whole file, never an interleaved or truncated one."""
    tmp = path.with_name(f".{path.name}.tmp-{_host()}-{os.getpid()}")
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


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
    _write_atomic(out / "manifest.json", json.dumps(man, indent=1) + "\n")
    card = (
        f"# Dataset card: {cfg.kind}\n\n"
        f"- samples: {len(samples)} of {cfg.scenes} requested (dataset seed {cfg.seed})\n"
        f"- resolution: {cfg.resolution}x{cfg.resolution}; input spp {cfg.spp}; reference {cfg.ref_spp} spp\n"
        f"- seconds per sample (mean, all renders of a sample): {man['seconds_per_sample']}\n"
        f"- disk: {size / 1e6:.1f} MB ({man['bytes_per_sample'] / 1e6:.2f} MB per sample)\n"
        f"- scenes: procedural (training/scenes/spec.py), scene seed of sample i = SeedSequence([seed, i])\n"
    )
    _write_atomic(out / "DATACARD.md", card)
    return man
