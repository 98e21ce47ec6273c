"""Errors a user can act on: each prints as one line naming the file and pass at fault."""


class NeuralRenderError(Exception):
    """Base class: the CLI prints these as ``error: <message>`` without a traceback."""


class PassSetError(NeuralRenderError, ValueError):
    """A pass set is missing a pass, has mismatched shapes or non-finite pixels, or its file is unreadable."""


class OpError(NeuralRenderError):
    """An op cannot run: unknown method, missing optional dependency, bad parameter."""


class OutputExistsError(NeuralRenderError, FileExistsError):
    """An output file exists and overwriting was not asked for."""
