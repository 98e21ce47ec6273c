"""Relighting's dataset loader: the one the trainer, the evaluator and the tests read a
``neural-render data relight`` folder with.

A sample folder ``samples/NNNNNN/`` holds the same frame under K lightings (``lit_k.exr``, with
the G-buffer; ``lighting_k.json`` describes lighting k), cheap re-renders ``lit_k_sppNNNN.exr``,
the gradient-illumination pair ``grad_a.exr`` / ``grad_b.exr`` and ``sample.json``. Inputs are
built with the functions inference uses: the analytic shading of :mod:`neural_ops.relight`
(with screen-space shadows for ``shadows`` models), :func:`neural_ops.relight.network.raw_inputs`
and :func:`neural_ops.relight.network.lighting_code`. Renders go through OIDN first (what a user
would relight, and a clean target).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from neural_ops import PassSetError, read_exr
from neural_ops.nn.blocks import thumbnail
from neural_ops.nn.features import depth_feature
from neural_ops.relight.network import RAW_CHANNELS, lighting_code, raw_inputs

from ..common.augment import random_crop
from ..common.samples import sample_dir

if TYPE_CHECKING:
    from .train import RelightTrainConfig

#: Input channels of the network (the raw layout of :mod:`neural_ops.relight.network`).
INPUT_CHANNELS = RAW_CHANNELS


def lighting_count(d: Path) -> int:
    """How many lightings sample folder ``d`` has (its ``lighting_k.json`` files)."""
    return len(list(Path(d).glob("lighting_*.json")))


def clean(ps) -> np.ndarray:
    """A render through OIDN (albedo + normal) when available, else its colour."""
    from neural_ops.core.oidn import oidn_denoise, oidn_unavailable

    if not oidn_unavailable() and "Denoising Albedo" in ps and "Denoising Normal" in ps:
        return oidn_denoise(ps)
    return np.maximum(ps.color, 0)


class SampleStore:
    """Per sample: G-buffer, and per lighting the clean render, analytic buffers and code."""

    def __init__(self, root: Path, indices: list[int], log=print, shadows: bool = False):
        from neural_ops.core.lighting import parse_lighting
        from neural_ops.relight import analytic_shading
        from neural_ops.relight.screen_space import shadowed_shading

        shade = shadowed_shading if shadows else analytic_shading

        self.samples = []
        t0 = time.perf_counter()
        for n, i in enumerate(indices):
            d = sample_dir(root, i)
            try:
                k_count = lighting_count(d)
                lits = [read_exr(d / f"lit_{k}.exr") for k in range(k_count)]
                if k_count < 2:
                    raise PassSetError("fewer than 2 lightings")
                g = lits[0].validate(("Combined", "Diffuse Color", "Normal", "Position", "Depth"))
                s = {"dc": g.get("Diffuse Color")[..., :3], "normal": g.get("Normal")[..., :3],
                     "gc": g.get("Glossy Color")[..., :3] if "Glossy Color" in g else np.zeros_like(g.color),
                     "depth": depth_feature(g.get("Depth")), "lit": [], "diff": [], "gloss": [], "code": [],
                     "seconds": {}}
                for k, ps in enumerate(lits):
                    light = parse_lighting(json.loads((d / f"lighting_{k}.json").read_text()))
                    sh = shade(ps, light)
                    s["lit"].append(clean(ps))
                    s["diff"].append(sh["diffuse"] + sh["background"])
                    s["gloss"].append(sh["glossy"])
                    s["code"].append(lighting_code(light))
            except (PassSetError, OSError, json.JSONDecodeError) as e:
                raise PassSetError(f"malformed sample {d}: {e}") from None
            self.samples.append(s)
            if log and (n + 1) % 25 == 0:
                log(f"  loaded {n + 1}/{len(indices)} samples ({time.perf_counter() - t0:.0f} s)")

    def pair(self, s: dict, k: int, j: int, with_source: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(raw (H, W, 22), target (H, W, 3), code (CODE_DIM,)) for lightings k -> j."""
        src = sa = None
        if with_source:
            src, sa = s["lit"][k], s["diff"][k] + s["gloss"][k]
        raw = raw_inputs(s["diff"][j], s["gloss"][j], s["dc"], s["gc"], s["normal"], s["depth"], src, sa)
        return raw, s["lit"][j], s["code"][j]


def make_batch(store: SampleStore, rng, cfg: RelightTrainConfig):
    """Crops of (k -> j) pairs, their targets and lighting codes, and the whole frames'
    thumbnails (the global-context branch's input; same exposure changes)."""
    xs, ys, cs, ts = [], [], [], []
    for _ in range(cfg.batch):
        s = store.samples[int(rng.integers(len(store.samples)))]
        k_count = len(s["lit"])
        k = int(rng.integers(k_count))
        j = int(rng.choice([x for x in range(k_count) if x != k]))
        raw, y, code = store.pair(s, k, j, rng.random() >= cfg.source_dropout)
        thumb = thumbnail(torch.from_numpy(raw.transpose(2, 0, 1).copy())[None])[0].numpy() if cfg.model.context else None
        raw, y = random_crop(raw, y, rng, cfg.crop, vflip=True, transpose=True)
        if cfg.exposure:
            # Light is linear: the target lighting at another intensity scales its analytic
            # buffers and the target alike; the source frame and its analytic image likewise.
            g_t, g_s = (np.float32(2.0 ** v) for v in rng.uniform(-cfg.exposure, cfg.exposure, size=2))
            raw = np.array(raw, np.float32)
            raw[..., 0:6] *= g_t
            raw[..., 16:22] *= g_s
            y = np.asarray(y) * g_t
            if thumb is not None:
                thumb[0:6] *= g_t
                thumb[16:22] *= g_s
        xs.append(np.ascontiguousarray(raw.transpose(2, 0, 1)))
        ys.append(np.ascontiguousarray(y.transpose(2, 0, 1)))
        cs.append(code)
        ts.append(thumb)
    thumbs = torch.from_numpy(np.stack(ts)) if cfg.model.context else None
    return torch.from_numpy(np.stack(xs)), torch.from_numpy(np.stack(ys)), torch.from_numpy(np.stack(cs)), thumbs


def with_color(ps, rgb: np.ndarray):
    """A copy of pass set ``ps`` whose ``Combined`` colour is ``rgb`` (H, W, 3), its alpha kept:
    the frame a user would relight (e.g. after OIDN)."""
    out = ps.copy()
    alpha = ps.alpha if ps.alpha is not None else np.ones((*ps.shape, 1), np.float32)
    out.add("Combined", np.concatenate([rgb, alpha], axis=2), "RGBA")
    return out
