"""Denoise: Monte-Carlo noise removal from a Cycles frame and its guide passes.

Methods (see ``neural-render ops denoise``): ``spikes`` (firefly removal), ``bilateral``
(Kalantari et al. 2015's cross-bilateral filter), ``oidn`` (the anchor) and ``neural`` (our
learned denoiser, :mod:`.learned` on :mod:`.network` with inputs from :mod:`.inputs`); the
temporal filter for animations is :mod:`.temporal`.
"""

from . import bilateral, learned, oidn, spikes  # noqa: F401  (registration)
