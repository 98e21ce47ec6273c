"""Whether the learned ops can run here, and with which backend.

torch is optional (the numpy ops never need it), and so is ONNX Runtime: a learned op runs its
model with ONNX Runtime when ``onnxruntime`` imports and the model's ``.onnx`` file lies beside
its weights (every shipped model has one), else with torch. A stock Blender Python has neither
torch nor safetensors, so the ONNX path imports neither.
"""

from __future__ import annotations

from pathlib import Path

from ..core.errors import OpError

BACKENDS = ("auto", "torch", "onnx")
#: The command that writes a model's ``.onnx`` beside its weights (needs torch).
EXPORT_HINT = "neural-render export-onnx"


def torch_unavailable() -> str | None:
    try:
        import torch  # noqa: F401
    except ImportError as e:
        return f"the 'torch' package is not installed ({e}); pip install torch==2.13.0"
    return None


def onnx_unavailable() -> str | None:
    try:
        import onnxruntime  # noqa: F401
    except ImportError as e:
        return f"ONNX Runtime is not installed ({e}); pip install onnxruntime"
    return None


def onnx_path(weights: Path) -> Path:
    """The ONNX graph shipped (or exported) beside a ``.safetensors`` weights file."""
    return Path(weights).with_suffix(".onnx")


def choose_backend(backend: str, weights: Path) -> str:
    """``torch`` or ``onnx`` for a model whose weights are ``weights`` (which need not exist when
    its ``.onnx`` does); ``backend`` is ``auto``, ``torch`` or ``onnx``.

    ``auto``: ONNX Runtime when it imports and the ``.onnx`` exists, else torch. Raises one
    clear :class:`OpError` when neither can run the model.
    """
    if backend not in BACKENDS:
        raise OpError(f"backend must be auto, torch or onnx, got '{backend}'")
    graph = onnx_path(weights)
    if not Path(weights).exists() and not graph.exists():
        raise OpError(f"{weights}: no such weights file")
    if backend in ("auto", "onnx"):
        no_ort = onnx_unavailable()
        if not no_ort and graph.exists():
            return "onnx"
        if backend == "onnx":
            raise OpError(no_ort or f"{weights}: no ONNX graph {graph.name} beside it; export it with "
                          f"'{EXPORT_HINT} {weights}' (needs torch)")
    no_torch = torch_unavailable()
    if no_torch:
        if not onnx_unavailable():
            raise OpError(f"{weights}: no ONNX graph {graph.name} beside it and torch is not installed; "
                          f"export it where torch is: '{EXPORT_HINT} {weights}'")
        raise OpError("learned models need ONNX Runtime (pip install onnxruntime) or torch (pip install torch==2.13.0)")
    return "torch"


def learned_unavailable(weights: Path) -> str | None:
    """Why the model ``weights`` (its ``.onnx`` counts) cannot run here, or None: the
    ``available`` check of the learned ops, for their default model."""
    try:
        choose_backend("auto", weights)
    except OpError as e:
        return str(e)
    return None
