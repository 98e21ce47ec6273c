"""Shared fixtures: seeded RNG and synthetic pass sets that look like Cycles output."""

from __future__ import annotations

import numpy as np
import pytest

from neural_ops import PassSet


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def make_passset(h=32, w=40, seed=0, noise=0.3, spp=4) -> PassSet:
    """Two-material scene: left half red albedo, right half grey, a lit gradient; noisy colour
    = clean * albedo-demodulated Monte-Carlo-like noise. Returns a PassSet with meta['clean']."""
    r = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    albedo = np.where(xx[..., None] < w // 2, [0.8, 0.2, 0.1], [0.5, 0.5, 0.5]).astype(np.float32)
    shading = (0.5 + 1.5 * yy / h)[..., None].astype(np.float32)
    clean = albedo * shading
    # Gamma-distributed per-pixel noise with mean 1, like few-sample estimates.
    k = 1.0 / noise**2
    noisy = clean * r.gamma(k, 1.0 / k, size=(h, w, 1)).astype(np.float32)
    normal = np.zeros((h, w, 3), np.float32)
    normal[..., 2] = 1.0
    depth = np.full((h, w, 1), 5.0, np.float32)
    pos = np.stack([xx * 0.01, yy * 0.01, np.zeros_like(xx)], axis=2).astype(np.float32)
    ps = PassSet(source="synthetic.exr")
    ps.add("Combined", np.concatenate([noisy, np.ones((h, w, 1), np.float32)], axis=2), "RGBA", half=True)
    ps.add("Denoising Albedo", albedo, "RGB", half=True)
    ps.add("Denoising Normal", normal, "XYZ")
    ps.add("Denoising Depth", depth, "Z")
    ps.add("Position", pos, "XYZ")
    ps.meta = {"spp": spp, "frame": 1}
    ps.clean = clean  # not part of the contract: ground truth for tests
    return ps


def make_raster(h=24, w=20, seed=0, source="test raster") -> PassSet:
    """A raster (EEVEE-like) pass set with random values: what CG2Real reads (Combined, Diffuse
    Color, Glossy Color, unit Normal, Depth)."""
    r = np.random.default_rng(seed)
    ps = PassSet(source=source)
    ps.add("Combined", np.concatenate([r.uniform(0, 2, (h, w, 3)), np.ones((h, w, 1))], 2).astype(np.float32), "RGBA")
    ps.add("Diffuse Color", r.uniform(0, 1, (h, w, 3)).astype(np.float32), "RGB")
    ps.add("Glossy Color", r.uniform(0, 0.2, (h, w, 3)).astype(np.float32), "RGB")
    n = r.normal(size=(h, w, 3))
    ps.add("Normal", (n / np.linalg.norm(n, axis=2, keepdims=True)).astype(np.float32), "XYZ")
    ps.add("Depth", r.uniform(1, 5, (h, w, 1)).astype(np.float32), "Z")
    return ps


@pytest.fixture
def passset():
    return make_passset()


@pytest.fixture(autouse=True)
def _fresh_notes():
    """Each test sees the one-line notes (said once per process) as a new process would."""
    from neural_ops.core import notes

    notes._said.clear()
    yield
