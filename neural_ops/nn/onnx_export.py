"""Export a learned op's torch model to the ONNX graph :mod:`.onnx_backend` runs (needs torch
and the ``onnx`` package; imported only by the exporters, never at run time).

Each op's network module says what its graph is (``onnx_graph(net) -> OnnxSpec``): a module
whose ``forward`` takes the graph's inputs in order and does the op's whole per-tile
computation, example inputs, and which axes are dynamic. :func:`export_graph` writes it with the
model's card config and pooling multiple as metadata, and :func:`compare` checks the graph
against the torch module. ``neural-render export-onnx`` (training's CLI) drives it.
"""

from __future__ import annotations

import json
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

#: ONNX opset of the shipped graphs (ONNX Runtime >= 1.10 runs it).
OPSET = 17


@dataclass
class OnnxSpec:
    """What one model's graph is.

    Attributes:
        module: ``torch.nn.Module`` whose ``forward(*inputs)`` returns the output (B, K, H, W).
        inputs: example input tensors by name, in ``forward``'s order; height and width must be
            multiples of ``multiple``.
        dynamic: input name -> {axis: symbolic name}; the output gets batch, height, width.
        multiple: the pooling factor the graph's height and width must be multiples of.
        meta: more metadata (JSON-able values), e.g. the model's config.
    """

    module: object
    inputs: dict
    dynamic: dict
    multiple: int = 1
    meta: dict = field(default_factory=dict)


def image_axes(ndim: int = 4) -> dict[int, str]:
    """Dynamic batch, height and width of a (B, C, H, W) (or (B, K, C, H, W)) input."""
    return {0: "batch", ndim - 2: "height", ndim - 1: "width"}


def _register_symbolics() -> None:
    """ONNX has no expm1: exp(x) - 1 (for |x| < 1e-4 off by ~1e-7 absolute, far below the
    tolerance the equality tests hold the graphs to)."""
    from torch.onnx import register_custom_op_symbolic

    def expm1(g, x):
        return g.op("Sub", g.op("Exp", x), g.op("Constant", value_t=_one()))

    register_custom_op_symbolic("aten::expm1", expm1, 9)


def _one():
    import torch

    return torch.tensor(1.0)


def export_graph(spec: OnnxSpec, path: Path) -> Path:
    """Write ``spec`` to ``path`` (atomically: a half-written file never lies there)."""
    import onnx
    import torch

    _register_symbolics()

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    names = list(spec.inputs)
    axes = {**spec.dynamic, "out": {0: "batch", 2: "height", 3: "width"}}
    module = spec.module.eval()
    with torch.inference_mode(False), torch.no_grad(), warnings.catch_warnings():
        # The tracer warns about every shape check in forward(); the graphs are tested instead.
        warnings.simplefilter("ignore")
        torch.onnx.export(module, tuple(spec.inputs.values()), str(tmp), input_names=names, output_names=["out"],
                          opset_version=OPSET, dynamic_axes=axes, dynamo=False)
    model = onnx.load(str(tmp))
    for k, v in {"multiple": spec.multiple, **spec.meta}.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = k, json.dumps(v)
    model.producer_name = "neural-render"
    onnx.save(model, str(tmp))
    os.replace(tmp, path)
    return path


def compare(spec: OnnxSpec, path: Path, inputs: dict | None = None) -> tuple[float, float]:
    """(max abs, max relative) difference between the torch module and the graph at ``path``
    on ``inputs`` (default: the spec's examples); relative to max(|torch|, 1e-3)."""
    import torch

    from .onnx_backend import OnnxGraph

    inputs = inputs if inputs is not None else spec.inputs
    with torch.inference_mode():
        ref = spec.module(*inputs.values()).float().numpy()
    got = OnnxGraph(path).run(**{k: v.numpy() for k, v in inputs.items()})[0]
    diff = np.abs(got - ref)
    return float(diff.max()), float((diff / np.maximum(np.abs(ref), 1e-3)).max())
