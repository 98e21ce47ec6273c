"""Neural rendering ops on Blender render passes: pass sets, EXR I/O, and four ops (denoise,
cg2real, relight, novel_view), each in its own folder over the shared ``core`` and ``nn``.

Importable with numpy alone (torch, pyoidn and onnxruntime are loaded by the ops that need
them); never imports bpy. Importing the package registers every op's methods, so
:func:`get_op` and :func:`list_ops` see them all.
"""

from . import cg2real, denoise, novel_view, relight  # noqa: F401  (each registers its methods)
from .core.errors import NeuralRenderError, OpError, OutputExistsError, PassSetError
from .core.exr import read_exr, write_exr
from .core.passset import Pass, PassSet
from .core.registry import OpSpec, get_op, list_ops

__version__ = "0.1.0"

#: The ops, one folder each, under the same name in ``neural_ops``, ``addon`` and ``training``.
OPS = ("denoise", "cg2real", "relight", "novel_view")

__all__ = [
    "OPS", "NeuralRenderError", "OpError", "OpSpec", "OutputExistsError", "Pass", "PassSet", "PassSetError",
    "get_op", "list_ops", "read_exr", "write_exr",
]
