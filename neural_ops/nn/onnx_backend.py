"""ONNX Runtime inference for the learned ops: no torch, no safetensors.

Every shipped model has a graph ``weights/KIND_NAME.onnx`` beside its weights, written by
:mod:`.onnx_export` (``neural-render export-onnx``). The graph holds the model's *whole*
per-tile computation, from the op's raw input layout (channels first) to its output, pre- and
post-processing included, with dynamic batch, height and width; its metadata says the pooling
``multiple`` the height and width must be padded to (done here, in numpy) and the config of the
model. Extra inputs, where a model has them:

- ``thumb``: the whole frame's thumbnail in the raw layout (:func:`.features.thumbnail`), from
  which the graph computes the global-context vector, so every tile gets the same one;
- ``code``: relighting's FiLM lighting code (:func:`neural_ops.relight.network.lighting_code`).

``neural-render bench`` times this backend against torch in the same run.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import numpy as np

from ..core.errors import OpError
from .runtime import onnx_unavailable

_sessions: dict[tuple[str, float], OnnxGraph] = {}
_lock = threading.Lock()


class OnnxGraph:
    """One ``.onnx`` file in an ONNX Runtime session on every core.

    Attributes:
        inputs: the graph's input names (``raw`` first for per-tile graphs).
        meta: its metadata: ``multiple`` (int), ``kind``, ``config`` (dict) and whatever else
            the exporter wrote.
    """

    def __init__(self, path: Path):
        reason = onnx_unavailable()
        if reason:
            raise OpError(reason)
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.intra_op_num_threads = max(1, os.cpu_count() or 1)
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        so.log_severity_level = 3  # warnings about unused initialisers are noise to a user
        try:
            self.session = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
        except Exception as e:  # ORT raises its own exception types for broken files
            raise OpError(f"{path}: not a usable ONNX graph ({str(e).splitlines()[0]})") from None
        self.path = Path(path)
        self.inputs = [i.name for i in self.session.get_inputs()]
        self.outputs = [o.name for o in self.session.get_outputs()]
        meta = dict(self.session.get_modelmeta().custom_metadata_map)
        self.meta = {k: _parse(v) for k, v in meta.items()}
        self.multiple = int(self.meta.get("multiple", 1))

    def run(self, **feeds: np.ndarray) -> list[np.ndarray]:
        feeds = {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in feeds.items() if k in self.inputs}
        missing = [n for n in self.inputs if n not in feeds]
        if missing:
            raise OpError(f"{self.path.name}: the graph needs the input(s) {', '.join(missing)}")
        return self.session.run(self.outputs, feeds)


def _parse(v: str):
    try:
        return json.loads(v)
    except ValueError:
        return v


def load_graph(path: Path) -> OnnxGraph:
    """The session of ``path``, created once per process (and again when the file changes)."""
    path = Path(path)
    key = (str(path.resolve()), path.stat().st_mtime)
    with _lock:
        if key not in _sessions:
            _sessions[key] = OnnxGraph(path)
        return _sessions[key]


def pad_to(x: np.ndarray, multiple: int) -> np.ndarray:
    """(..., h, w) edge-padded at the bottom and right to multiples of ``multiple`` (what the
    torch networks do inside ``forward``)."""
    h, w = x.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    if not (ph or pw):
        return x
    return np.pad(x, [(0, 0)] * (x.ndim - 2) + [(0, ph), (0, pw)], mode="edge")


class TileGraph:
    """A per-tile graph as a :func:`.tiling.run_tiled` model: (1, C, h, w) array -> (1, K, h, w),
    padded to the graph's multiple and cropped back; ``extra`` feeds its other inputs (the
    same for every tile)."""

    def __init__(self, graph: OnnxGraph, **extra: np.ndarray):
        self.graph = graph
        self.extra = extra

    def __call__(self, x: np.ndarray) -> np.ndarray:
        h, w = x.shape[-2:]
        out = self.graph.run(raw=pad_to(x, self.graph.multiple), **self.extra)[0]
        return out[..., :h, :w]
