"""Whether the learned ops can run here: torch is optional (the numpy ops never need it)."""

from __future__ import annotations


def torch_unavailable() -> str | None:
    try:
        import torch  # noqa: F401
    except ImportError as e:
        return f"the 'torch' package is not installed ({e}); pip install torch==2.13.0"
    return None
