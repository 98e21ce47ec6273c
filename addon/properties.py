"""Property definitions every op's settings use the same way: a model's weights file and the tile
size of tiled inference (one name, range and wording across the ops)."""

from __future__ import annotations

from bpy.props import IntProperty, StringProperty


def weights_file(what: str = "model", name: str = "Weights") -> StringProperty:
    """A .safetensors file the user trained; empty means the shipped one."""
    return StringProperty(name=name, description=f"A .safetensors {what} you trained or fine-tuned (its .json card "
                          "beside it); empty: the shipped one", subtype="FILE_PATH", default="")


def tile_size(default: int = 512) -> IntProperty:
    """Tile side of tiled inference: bounds memory on big frames; the result is the same."""
    return IntProperty(name="Tile Size", description="Tile side in pixels: bounds memory on big frames, same result "
                       "(0: the whole frame at once)", default=default, min=0, max=8192)
