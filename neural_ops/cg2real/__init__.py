"""CG2Real: a raster (EEVEE) frame and its passes -> the path-traced (Cycles) look.

The op is :mod:`.op`, the generator :mod:`.network`, the optional photo-albedo stage :mod:`.albedo`.
"""

from . import op  # noqa: F401  (registration)
