"""Ops on pass sets. Each kind has a registry of methods; see :mod:`.registry`."""

from .registry import OpSpec, get_op, list_ops, register


def denoise(passes, method: str = "oidn", **params):
    """Denoise a pass set's ``Combined`` with a registered method.

    Args:
        passes: a :class:`~neural_ops.passset.PassSet` with at least ``Combined``.
        method: registry name (``oidn``, ``bilateral``, ``spikes``, ...).
        **params: fields of the method's params dataclass.
    Returns:
        (H, W, 3) float32 linear HDR image.
    """
    return get_op("denoise", method)(passes, **params)


__all__ = ["OpSpec", "denoise", "get_op", "list_ops", "register"]
