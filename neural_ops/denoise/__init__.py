"""Denoise: Monte-Carlo noise removal from a Cycles frame and its guide passes.

Methods (see ``neural-render ops denoise``): ``spikes`` (firefly removal), ``bilateral``
(Kalantari et al. 2015's cross-bilateral filter), ``oidn`` (the anchor) and ``neural`` (our
learned denoiser, :mod:`.learned` on :mod:`.network` with inputs from :mod:`.inputs`); for
animations, the temporal filter (:mod:`.temporal`), multi-frame gathering (:mod:`.multiframe`)
and the resumable sequence denoiser (:mod:`.sequence`).
"""

from . import bilateral, learned, oidn, spikes  # noqa: F401  (registration)


def denoise(passes, method: str = "neural", **params):
    """Denoise a pass set's ``Combined`` with a registered method (``neural-render ops denoise``).

    Args:
        passes: a :class:`~neural_ops.core.passset.PassSet` with at least ``Combined`` (and the
            guide passes the method reads).
        method: ``neural`` (our model), ``oidn``, ``bilateral`` or ``spikes``.
        **params: fields of the method's params dataclass.
    Returns:
        (H, W, 3) float32 linear HDR image.
    """
    from ..core.registry import get_op

    return get_op("denoise", method)(passes, **params)
