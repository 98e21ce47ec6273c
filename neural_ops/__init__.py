"""Neural rendering ops on Blender render passes: pass sets, EXR I/O, denoisers, metrics.

Importable with numpy alone (torch and pyoidn are loaded by the ops that need them); never
imports bpy.
"""

from . import temporal  # numpy only; the render hook reaches it as nops.temporal
from .errors import NeuralRenderError, OpError, OutputExistsError, PassSetError
from .exr import read_exr, write_exr
from .ops import denoise, get_op, list_ops
from .passset import Pass, PassSet

__version__ = "0.1.0"

__all__ = [
    "NeuralRenderError", "OpError", "OutputExistsError", "Pass", "PassSet", "PassSetError",
    "denoise", "get_op", "list_ops", "read_exr", "temporal", "write_exr",
]
