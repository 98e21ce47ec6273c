"""Novel view: new camera views and in-between frames from rendered views and their depth.

Warping (:mod:`.warp`), unstructured lumigraph blending (:mod:`.ulr`, the baseline), the
learned blending's inputs (:mod:`.features`) and network (:mod:`.network`), reading rendered
views (:mod:`.views`) and rendering target cameras or in-between frames (:mod:`.synthesis`).
"""

from .ulr import ulr_render
from .warp import WarpResult, backward_warp, backward_warp_environment, forward_splat, splat_depth

__all__ = ["WarpResult", "backward_warp", "backward_warp_environment", "forward_splat", "splat_depth", "ulr_render"]
