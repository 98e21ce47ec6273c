"""Image-based rendering: pinhole cameras of rendered views, warping one view into another,
and unstructured lumigraph blending (the novel-view baseline). numpy only."""

from .cameras import Camera, clean_depth, load_views
from .ulr import ulr_render
from .warp import WarpResult, backward_warp, backward_warp_environment, forward_splat, splat_depth

__all__ = ["Camera", "WarpResult", "backward_warp", "backward_warp_environment", "clean_depth",
           "forward_splat", "load_views", "splat_depth", "ulr_render"]
