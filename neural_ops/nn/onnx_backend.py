"""ONNX Runtime inference for the learned denoiser (optional ``onnxruntime`` + ``onnx`` packages).

The torch module is exported once per weights file (dynamic height and width) into a cache
folder beside the user's data and run with an ``InferenceSession`` on every core. The result
is a drop-in callable for :func:`.tiling.run_tiled`: torch tensor in, torch tensor out.
``neural-render bench`` times both backends in the same run.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import torch

from ..core.errors import OpError


def onnx_unavailable() -> str | None:
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError as e:
        return f"ONNX Runtime is not installed ({e}); pip install onnxruntime onnx"
    return None


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "neural-render" / "onnx"


class _Core(torch.nn.Module):
    """The convolutional core of a denoiser as a module of its own (what ONNX Runtime runs)."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        return self.net.core(x)


def export_onnx(net: torch.nn.Module, path: Path) -> Path:
    """Export ``net.core``: features (B, 13, H, W) -> head outputs, dynamic batch, height, width."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    x = torch.rand(1, 13, 64, 64)
    outs = [f"head{i}" for i in range(3 if net.cfg.head == "kernel" else 1)]
    axes = {n: {0: "b", 2: "h", 3: "w"} for n in ["features", *outs]}
    with torch.inference_mode(False), torch.no_grad():
        torch.onnx.export(_Core(net).eval(), (x,), str(tmp), input_names=["features"], output_names=outs,
                          opset_version=17, dynamic_axes=axes, dynamo=False)
    os.replace(tmp, path)
    return path


class OnnxModel:
    """Callable like the torch module: (B, 13, H, W) raw tensor -> (B, 3, H, W) tensor; the
    convolutional core runs in ONNX Runtime, the per-pixel pre- and post-processing in torch."""

    def __init__(self, net: torch.nn.Module, key: str):
        reason = onnx_unavailable()
        if reason:
            raise OpError(reason)
        import onnxruntime as ort

        digest = hashlib.sha1(key.encode() + repr(sorted(net.cfg.to_dict().items())).encode()).hexdigest()[:16]
        path = cache_dir() / f"denoiser-{digest}.onnx"
        if not path.exists():
            export_onnx(net, path)
        so = ort.SessionOptions()
        so.intra_op_num_threads = max(1, os.cpu_count() or 1)
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
        self.net = net
        self.outputs = [o.name for o in self.session.get_outputs()]

    def core(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        arr = np.ascontiguousarray(x.detach().cpu().numpy(), dtype=np.float32)
        return tuple(torch.from_numpy(o) for o in self.session.run(self.outputs, {"features": arr}))

    def __call__(self, raw: torch.Tensor) -> torch.Tensor:
        return self.net(raw, core=self.core)
