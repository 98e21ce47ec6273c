"""Torch datasets over the folders written by :mod:`training.datagen`, one per dataset kind.

Each item is a random crop of one sample with flips and an exposure change applied alike to all
of its arrays (the exposure to radiance only). A malformed sample raises a :class:`PassSetError`
naming its folder instead of being used silently.
"""

from __future__ import annotations

import contextlib
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from neural_ops import PassSetError, read_exr
from neural_ops.passset import ALBEDO_PASSES, NORMAL_PASSES

from .scene_spec import HDRIS, LIGHTS

#: Input channels of :class:`DenoiseDataset`, in order: noisy colour (3), albedo (3), normal (3), depth (1).
INPUT_CHANNELS = 10

#: Lights encoded by :func:`lighting_vector` (the procedural lightings have 0-3).
MAX_LIGHTS = 3
#: Length of :func:`lighting_vector`: world (HDRI one-hot, cos/sin rotation, log strength), then
#: per light slot (present, type one-hot, location, unit direction, colour, log power, size).
LIGHTING_DIM = len(HDRIS) + 3 + MAX_LIGHTS * (1 + len(LIGHTS) + 3 + 3 + 3 + 2)


# ---- shared helpers ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Augment:
    """One item's random crop window, flips and exposure gain, applied alike to all its arrays.

    Flips leave normals alone: they are world-space (README data contract), so mirroring the
    image does not change the direction any pixel's surface faces.
    """

    oy: int = 0
    ox: int = 0
    size: int | None = None
    flip_x: bool = False
    flip_y: bool = False
    gain: float = 1.0

    @classmethod
    def draw(cls, rng: np.random.Generator, hw: tuple[int, int], crop: int | None, augment: bool, exposure: float,
             flips: bool = True, where: Path | str = "") -> Augment:
        """Draw the crop origin (if ``crop``), flips (if ``augment`` and ``flips``) and a gain
        2^U(-exposure, exposure) (if ``augment``) for an image of size ``hw`` = (H, W)."""
        h, w = hw
        oy = ox = 0
        if crop:
            if crop > min(h, w):
                raise PassSetError(f"crop {crop} is larger than sample {where} ({w}x{h})")
            oy, ox = int(rng.integers(0, h - crop + 1)), int(rng.integers(0, w - crop + 1))
        fx = fy = False
        gain = 1.0
        if augment:
            if flips:
                fx, fy = bool(rng.random() < 0.5), bool(rng.random() < 0.5)
            gain = float(2.0 ** rng.uniform(-exposure, exposure)) if exposure else 1.0
        return cls(oy, ox, crop or None, fx, fy, gain)

    def __call__(self, a: np.ndarray, radiance: bool = False, crop: bool = True) -> np.ndarray:
        """``a``: (..., H, W, C) -> (..., crop, crop, C) float32, flipped; scaled if ``radiance``."""
        if crop and self.size:
            a = a[..., self.oy : self.oy + self.size, self.ox : self.ox + self.size, :]
        if self.flip_x:
            a = a[..., :, ::-1, :]
        if self.flip_y:
            a = a[..., ::-1, :, :]
        if radiance and self.gain != 1.0:
            a = a * np.float32(self.gain)
        return np.ascontiguousarray(a, dtype=np.float32)

    def record(self) -> dict:
        """What was drawn, as tensors (collates into a batch): ``origin`` (oy, ox), ``flip``
        (horizontal, vertical), ``gain``."""
        return {"origin": torch.tensor([self.oy, self.ox]), "flip": torch.tensor([self.flip_x, self.flip_y]),
                "gain": torch.tensor(self.gain, dtype=torch.float32)}


def chw(a: np.ndarray) -> torch.Tensor:
    """(..., H, W, C) array -> (..., C, H, W) float32 tensor."""
    return torch.from_numpy(np.ascontiguousarray(np.moveaxis(a, -1, -3), dtype=np.float32))


def clean_depth(depth: np.ndarray) -> np.ndarray:
    """Depth in scene units with misses (Blender writes 1e10 or inf) set to 0."""
    return np.where((depth > 0) & (depth < 1e9), depth, 0.0).astype(np.float32)


@contextlib.contextmanager
def sample_errors(folder: Path):
    """Re-raise any :class:`PassSetError` as one naming the sample ``folder``."""
    try:
        yield
    except PassSetError as e:
        raise PassSetError(f"malformed sample {folder}: {e}") from None


def read_json(path: Path):
    """A JSON file's content; :class:`PassSetError` with the file name if missing or invalid."""
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise PassSetError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise PassSetError(f"{path}: unreadable JSON: {e}") from None


def same_shape(files: dict[str, tuple[int, int]]) -> None:
    """Raise if the (H, W) of these files differ."""
    if len(set(files.values())) > 1:
        raise PassSetError("image sizes differ: " + ", ".join(f"{n} {w}x{h}" for n, (h, w) in files.items()))


def collate(batch: list[dict]) -> dict:
    """``default_collate`` except for values that are dicts of lighting descriptions (variable
    length lists), which stay a list of dicts. Use with :class:`RelightDataset` and batch > 1."""
    from torch.utils.data import default_collate

    keep = {k for k, v in batch[0].items() if isinstance(v, dict) and k.endswith("lighting")}
    out = default_collate([{k: v for k, v in b.items() if k not in keep} for b in batch])
    out.update({k: [b[k] for b in batch] for k in keep})
    return out


def lighting_vector(desc: dict) -> np.ndarray:
    """(LIGHTING_DIM,) float32 encoding of a ``lighting_k.json`` description.

    World: one-hot of the bundled HDRI (zeros if unknown), cos and sin of its rotation, log
    strength. Then up to :data:`MAX_LIGHTS` lights, brightest first (so the order in the file does
    not matter), each: 1, type one-hot, location (3), unit direction to its target (3), colour
    (3), log power, size; empty slots are zeros.
    """
    w = desc["world"]
    hdri = np.zeros(len(HDRIS), np.float32)
    if w["hdri"] in HDRIS:
        hdri[HDRIS.index(w["hdri"])] = 1
    parts = [hdri, [math.cos(w["rotation"]), math.sin(w["rotation"]), math.log(max(w["strength"], 1e-6))]]
    lights = sorted(desc["lights"], key=lambda li: -li["power"])[:MAX_LIGHTS]
    slot = 1 + len(LIGHTS) + 3 + 3 + 3 + 2
    for li in lights:
        kind = np.zeros(len(LIGHTS), np.float32)
        if li["type"] in LIGHTS:
            kind[LIGHTS.index(li["type"])] = 1
        loc = np.asarray(li["location"], np.float32)
        d = np.asarray(li.get("target", [0.0, 0.0, 0.0]), np.float32) - loc
        d = d / max(float(np.linalg.norm(d)), 1e-6)
        parts += [[1.0], kind, loc, d, li["color"], [math.log(max(li["power"], 1e-6)), li.get("size", 0.0)]]
    parts.append(np.zeros(slot * (MAX_LIGHTS - len(lights)), np.float32))
    return np.concatenate([np.asarray(p, np.float32).ravel() for p in parts])


class SampleDataset(torch.utils.data.Dataset):
    """Base: the sample folders of a dataset and the per-process augmentation generator.

    Args:
        root: dataset folder (with ``samples/``).
        crop: crop size in pixels (None: whole image).
        augment: random flips and exposure (x 2^U(-exposure, exposure)).
        indices: restrict to these sample indices (e.g. a train/validation split).
        seed: base seed of the augmentation generator. Without DataLoader workers the stream is a
            pure function of it; in a worker it is also mixed with the worker's seed, which
            differs per worker and per epoch (and follows ``torch.manual_seed`` or the loader's
            ``generator``), so workers never repeat each other's augmentations.
        exposure: half-range of the exposure change in stops.
    """

    def __init__(self, root, crop: int | None = 64, augment: bool = True, indices=None, seed: int = 0,
                 exposure: float = 2.0):
        self.root = Path(root)
        dirs = sorted((self.root / "samples").glob("[0-9]*"))
        if indices is not None:
            keep = set(indices)
            dirs = [d for d in dirs if int(d.name) in keep]
        if not dirs:
            raise PassSetError(f"{self.root}: no samples (generate them with 'neural-render data')")
        self.dirs, self.crop, self.augment, self.seed, self.exposure = dirs, crop, augment, seed, exposure
        self._rng, self._rng_key = None, None

    @property
    def rng(self) -> np.random.Generator:
        # Made lazily in each process: a generator pickled into every worker would give all of
        # them the same stream (identical crops and exposures for different items).
        info = torch.utils.data.get_worker_info()
        key = None if info is None else info.seed
        if self._rng is None or key != self._rng_key:
            entropy = [self.seed] if info is None else [self.seed, info.seed]
            self._rng, self._rng_key = np.random.default_rng(np.random.SeedSequence(entropy)), key
        return self._rng

    def draw(self, hw: tuple[int, int], where: Path, flips: bool = True) -> Augment:
        return Augment.draw(self.rng, hw, self.crop, self.augment, self.exposure, flips, where)

    def __len__(self) -> int:
        return len(self.dirs)


# ---- datasets -------------------------------------------------------------------------------------
class InputTargetDataset(SampleDataset):
    """Datasets whose items are one input stack (radiance in channels 0:3, guides after) and one
    radiance target; subclasses provide ``load(i) -> ((H, W, C) input, (H, W, 3) target)``."""

    def __getitem__(self, i: int) -> dict:
        x, y = self.load(i)
        aug = self.draw(y.shape[:2], self.dirs[i])
        x = np.concatenate([aug(x[..., :3], radiance=True), aug(x[..., 3:])], axis=2)
        return {"input": chw(x), "target": chw(aug(y, radiance=True)), "index": int(self.dirs[i].name),
                "aug": aug.record()}


class DenoiseDataset(InputTargetDataset):
    """Noisy pass sets and their references (kind ``denoise``).

    Args:
        spp: which noisy input to use (must exist in every sample).
        target: ``reference`` or ``noise2noise`` (reads ``n2n_target.exr``).
        root, crop, augment, indices, seed, exposure: see :class:`SampleDataset`.

    Items: ``input`` (10, crop, crop) = noisy colour, albedo, normal, log(1 + depth);
    ``target`` (3, crop, crop); float32; ``index`` (int); ``aug`` (see :meth:`Augment.record`).
    """

    def __init__(self, root, spp: int = 4, crop: int | None = 64, augment: bool = True, indices=None, seed: int = 0,
                 target: str = "reference", exposure: float = 2.0):
        super().__init__(root, crop, augment, indices, seed, exposure)
        self.spp = spp
        self.target_file = "reference.exr" if target == "reference" else "n2n_target.exr"

    def load(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """(H, W, 10) input and (H, W, 3) target of sample i, validated."""
        d = self.dirs[i]
        with sample_errors(d):
            ps = read_exr(d / f"spp{self.spp:04d}.exr")
            ref = read_exr(d / self.target_file)
            ps.validate(("Combined", ("Denoising Albedo",), ("Denoising Normal",), ("Denoising Depth",)))
            ref.validate(("Combined",))
            if ref.shape != ps.shape:
                raise PassSetError(f"reference is {ref.shape}, input is {ps.shape}")
        x = np.concatenate([ps.color, ps.albedo, ps.normal, np.log1p(clean_depth(ps.depth))], axis=2)
        return x.astype(np.float32), ref.color.astype(np.float32)



class Cg2RealDataset(InputTargetDataset):
    """Raster images with their G-buffer and the path-traced image of the same camera (kind ``cg2real``).

    Args:
        raster: ``eevee`` (``eevee.exr``, with its passes) or ``workbench`` (``workbench.exr``).
        root, crop, augment, indices, seed, exposure: see :class:`SampleDataset`.

    The guide passes are those the raster file of the first sample has, out of albedo
    (``Denoising Albedo`` or ``Diffuse Color``), world-space normal and depth; every other sample
    must have them too. :attr:`channels` names the input's channel groups, e.g.
    ``(("color", 3), ("albedo", 3), ("normal", 3), ("depth", 1))`` for EEVEE, ``(("color", 3),
    ("depth", 1))`` for Workbench.

    Items: ``input`` (C, crop, crop) = raster colour then the guides (depth as log(1 + depth));
    ``target`` (3, crop, crop) Cycles colour; float32; ``index``; ``aug``.
    """

    GUIDES = (("albedo", ALBEDO_PASSES, 3), ("normal", NORMAL_PASSES, 3), ("depth", ("Depth",), 1))

    def __init__(self, root, raster: str = "eevee", crop: int | None = 64, augment: bool = True, indices=None,
                 seed: int = 0, exposure: float = 2.0):
        if raster not in ("eevee", "workbench"):
            raise PassSetError(f"unknown raster '{raster}' (eevee or workbench)")
        super().__init__(root, crop, augment, indices, seed, exposure)
        self.raster_file = f"{raster}.exr"
        with sample_errors(self.dirs[0]):
            first = read_exr(self.dirs[0] / self.raster_file)
        self.guides = tuple(g for g in self.GUIDES if any(n in first for n in g[1]))
        self.channels = (("color", 3), *((name, c) for name, _, c in self.guides))

    def load(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """(H, W, C) raster input and (H, W, 3) Cycles target of sample i, validated."""
        d = self.dirs[i]
        with sample_errors(d):
            ps = read_exr(d / self.raster_file)
            ref = read_exr(d / "cycles.exr")
            ps.validate(("Combined", *(names for _, names, _ in self.guides)))
            ref.validate(("Combined",))
            same_shape({self.raster_file: ps.shape, "cycles.exr": ref.shape})
            guides = [ps.first(names)[..., :c] for _, names, c in self.guides]
        guides = [np.log1p(clean_depth(g)) if name == "depth" else g for (name, _, _), g in zip(self.guides, guides)]
        return np.concatenate([ps.color, *guides], axis=2).astype(np.float32), ref.color.astype(np.float32)



class RelightDataset(SampleDataset):
    """Relighting pairs (kind ``relight``): one item per sample and ordered pair of different
    lightings (k, j): the scene under k, its G-buffer, the description of j and the scene under j.

    Args:
        root, crop, augment, indices, seed, exposure: see :class:`SampleDataset`. The exposure
            gain scales source and target alike (it is a camera change, not a lighting one).

    The number of lightings K comes from the dataset's ``manifest.json``, else from the most
    ``lighting_*.json`` files of any sample; a sample lacking one of them is malformed.

    Items, float32 (crop, crop) images: ``albedo`` (3), ``normal`` (3, world space), ``depth``
    (1, scene units, 0 where nothing is hit), ``position`` (3, world space), ``source`` (3, lit
    under k), ``target`` (3, lit under j); ``source_lighting`` / ``lighting`` (dicts of
    ``lighting_k.json`` / ``lighting_j.json``; batch them with :func:`collate`),
    ``source_lighting_vec`` / ``lighting_vec`` (LIGHTING_DIM,) from :func:`lighting_vector`;
    ``index``, ``k``, ``j`` (ints); ``aug``.
    """

    def __init__(self, root, crop: int | None = 64, augment: bool = True, indices=None, seed: int = 0,
                 exposure: float = 2.0):
        super().__init__(root, crop, augment, indices, seed, exposure)
        man = self.root / "manifest.json"
        k = read_json(man).get("config", {}).get("lightings") if man.is_file() else None
        self.lightings = k or max(len(list(d.glob("lighting_*.json"))) for d in self.dirs)
        if self.lightings < 2:
            raise PassSetError(f"{self.root}: relighting needs at least 2 lightings per sample")
        pairs = [(k, j) for k in range(self.lightings) for j in range(self.lightings) if k != j]
        self.items = [(s, k, j) for s in range(len(self.dirs)) for k, j in pairs]

    def __len__(self) -> int:
        return len(self.items)

    def load(self, s: int, k: int, j: int) -> dict:
        """Unaugmented (H, W, C) arrays and the two descriptions of sample s, lightings k -> j."""
        d = self.dirs[s]
        with sample_errors(d):
            src, dst = read_exr(d / f"lit_{k}.exr"), read_exr(d / f"lit_{j}.exr")
            src.validate(("Combined", ALBEDO_PASSES, NORMAL_PASSES, ("Depth",), "Position"))
            dst.validate(("Combined",))
            same_shape({f"lit_{k}.exr": src.shape, f"lit_{j}.exr": dst.shape})
            descs = [read_json(d / f"lighting_{n}.json") for n in (k, j)]
            try:
                vecs = [lighting_vector(x) for x in descs]
            except (KeyError, TypeError, ValueError) as e:
                raise PassSetError(f"lighting_{k}.json or lighting_{j}.json: bad description: {e!r}") from None
            return {"albedo": src.albedo, "normal": src.normal, "depth": clean_depth(src.get("Depth")[..., :1]),
                    "position": src.position, "source": src.color, "target": dst.color,
                    "source_lighting": descs[0], "lighting": descs[1],
                    "source_lighting_vec": vecs[0], "lighting_vec": vecs[1]}

    def __getitem__(self, i: int) -> dict:
        s, k, j = self.items[i]
        a = self.load(s, k, j)
        aug = self.draw(a["target"].shape[:2], self.dirs[s])
        item = {n: chw(aug(a[n], radiance=n in ("source", "target")))
                for n in ("albedo", "normal", "depth", "position", "source", "target")}
        item.update({n: a[n] for n in ("source_lighting", "lighting")})
        item.update({n: torch.from_numpy(a[n]) for n in ("source_lighting_vec", "lighting_vec")})
        return {**item, "index": int(self.dirs[s].name), "k": k, "j": j, "aug": aug.record()}


class MultiviewDataset(SampleDataset):
    """Multi-view sets (kind ``multiview``): one item per sample and target view, the sample's
    other views being the sources, with cameras from ``transforms.json``.

    Args:
        crop: crop of the target view only (sources stay whole); its intrinsics follow the crop.
        augment: exposure only, the same gain for every view. No flips: a mirrored image is
            not what any rigid camera sees, so it would contradict the poses.
        root, indices, seed, exposure: see :class:`SampleDataset`.

    Every view's arrays come from its HDR ``exr_file_path``. Poses are camera-to-world 4x4 in
    the NeRF / OpenGL convention (looks down -Z, +Y up); intrinsics are (fl_x, fl_y, cx, cy, w,
    h) in pixels, cy counted from the top row.

    Items (S = V - 1 sources, float32): ``target_color`` (3, crop, crop), ``target_depth`` (1,
    ..., scene units, 0 = miss), ``target_normal`` (3, ..., world space), ``target_albedo`` (3,
    ...), ``target_pose`` (4, 4), ``target_intrinsics`` (6,); ``source_color`` (S, 3, H, W),
    ``source_depth`` (S, 1, H, W), ``source_normal`` / ``source_albedo`` (S, 3, H, W),
    ``source_pose`` (S, 4, 4), ``source_intrinsics`` (S, 6); ``index``, ``view`` (ints); ``aug``.
    """

    INTRINSICS = ("fl_x", "fl_y", "cx", "cy", "w", "h")

    def __init__(self, root, crop: int | None = None, augment: bool = True, indices=None, seed: int = 0,
                 exposure: float = 2.0):
        super().__init__(root, crop, augment, indices, seed, exposure)
        self.cameras = [self._cameras(d) for d in self.dirs]
        self.items = [(s, v) for s, cams in enumerate(self.cameras) for v in range(len(cams[0]))]

    @classmethod
    def _cameras(cls, d: Path) -> tuple[list[str], np.ndarray, np.ndarray]:
        """EXR names, (V, 4, 4) poses and (V, 6) intrinsics of sample folder ``d``."""
        with sample_errors(d):
            tf = read_json(d / "transforms.json")
            try:
                frames = tf["frames"]
                files = [f["exr_file_path"] for f in frames]
                poses = np.array([f["transform_matrix"] for f in frames], np.float32).reshape(len(frames), 4, 4)
                k = np.array([[f[n] if n in f else tf[n] for n in cls.INTRINSICS] for f in frames], np.float32)
            except (KeyError, TypeError, ValueError) as e:
                raise PassSetError(f"transforms.json: bad or missing entry: {e!r}") from None
            if len(frames) < 2:
                raise PassSetError(f"transforms.json: {len(frames)} view(s), need at least 2")
        return files, poses, k

    def __len__(self) -> int:
        return len(self.items)

    def load(self, s: int) -> dict[str, np.ndarray]:
        """(V, H, W, C) ``color``, ``depth``, ``normal``, ``albedo`` of every view of sample s."""
        d = self.dirs[s]
        files, _, k = self.cameras[s]
        views = {"color": [], "depth": [], "normal": [], "albedo": []}
        with sample_errors(d):
            for name, (w, h) in zip(files, k[:, 4:].astype(int)):
                ps = read_exr(d / name).validate(("Combined", ("Depth",), NORMAL_PASSES, ALBEDO_PASSES))
                if ps.shape != (h, w):
                    raise PassSetError(f"{name} is {ps.shape[1]}x{ps.shape[0]}, transforms.json says {w}x{h}")
                views["color"].append(ps.color)
                views["depth"].append(clean_depth(ps.get("Depth")[..., :1]))
                views["normal"].append(ps.normal)
                views["albedo"].append(ps.albedo)
        return {n: np.stack(v) for n, v in views.items()}

    def __getitem__(self, i: int) -> dict:
        s, v = self.items[i]
        a = self.load(s)
        _, poses, k = self.cameras[s]
        aug = self.draw(a["color"].shape[1:3], self.dirs[s], flips=False)
        src = [u for u in range(len(poses)) if u != v]
        item = {}
        for n in ("color", "depth", "normal", "albedo"):
            item[f"target_{n}"] = chw(aug(a[n][v], radiance=n == "color"))
            item[f"source_{n}"] = chw(aug(a[n][src], radiance=n == "color", crop=False))
        kt = k[v].copy()
        if aug.size:
            kt[2:] -= (aug.ox, aug.oy, 0, 0)
            kt[4:] = aug.size
        item.update({"target_pose": torch.from_numpy(poses[v]), "target_intrinsics": torch.from_numpy(kt),
                     "source_pose": torch.from_numpy(poses[src]), "source_intrinsics": torch.from_numpy(k[src])})
        return {**item, "index": int(self.dirs[s].name), "view": v, "aug": aug.record()}
