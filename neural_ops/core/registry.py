"""The op registry: every op (classical or learned) is one pure function plus a params dataclass.

Operators, compositor nodes, the render hook, the CLI and the evaluation all look ops up here,
so a new method registered once shows up everywhere.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import OpError
from .passset import (
    ALBEDO_PASSES,
    CYCLES_DENOISED,
    DEPTH_PASSES,
    NOISY_PASS,
    NORMAL_PASSES,
    PassSet,
)

Required = tuple[str | tuple[str, ...], ...]
#: Passes any op may read as guides; checked for NaN/Inf whenever present.
GUIDE_PASSES = (*ALBEDO_PASSES, *NORMAL_PASSES, *DEPTH_PASSES, "Position")


@dataclass(frozen=True)
class OpSpec:
    """How to run one method of one kind of op.

    Attributes:
        kind: op family, e.g. ``"denoise"``.
        name: method id used on the command line (``--method NAME``).
        label: short human name for menus.
        description: one line for ``--help`` and tooltips.
        fn: ``fn(passes, params) -> (H, W, 3) float32`` linear HDR.
        params: dataclass type of the method's settings (fields with defaults).
        requires: passes the method reads; a tuple entry means "any of these".
        pass_name: name of the pass the result is written to in an EXR.
        available: returns None when the method can run, else the reason it cannot.
        progress_aware: ``fn`` takes ``progress=callable(done, total) -> cancel?`` (tiled ops).
        extra_reads: passes the method may read besides ``requires`` and the guides, given its
            params: a file op reads only these from an EXR.
        halo: rows of context a row strip needs each side, given the params; None: the method
            runs on whole frames only (see :mod:`neural_ops.core.strips`).
        align: strips start on a multiple of this many rows (a network's pooling grid).
        prepare: ``prepare(read, params) -> dict``: what a strip needs from the whole frame
            beyond the depth medians and exposures every op gets (``read(passes=...)`` reads
            passes of the whole frame); added to each strip's ``meta["strip"]``.
    """

    kind: str
    name: str
    label: str
    description: str
    fn: Callable[[PassSet, Any], np.ndarray]
    params: type
    requires: Required
    pass_name: str
    available: Callable[[], str | None] = lambda: None
    progress_aware: bool = False
    extra_reads: Callable[[Any], tuple[str, ...]] = lambda params: ()
    halo: Callable[[Any], int | None] = lambda params: None
    align: int = 1
    prepare: Callable[[Callable[..., PassSet], Any], dict] | None = None

    def reads(self, params: Any) -> tuple[str, ...]:
        """Every pass the method may read (those a frame lacks are simply not there)."""
        names = [n for r in self.requires for n in (r if isinstance(r, tuple) else (r,))]
        names += [*GUIDE_PASSES, NOISY_PASS, CYCLES_DENOISED, *self.extra_reads(params)]
        return tuple(dict.fromkeys(names))

    def make_params(self, **overrides: Any) -> Any:
        """Build the params dataclass, rejecting unknown names with the list of valid ones."""
        names = {f.name for f in dataclasses.fields(self.params)}
        unknown = sorted(set(overrides) - names)
        if unknown:
            raise OpError(
                f"{self.kind} method '{self.name}' has no parameter {', '.join(unknown)} "
                f"(valid: {', '.join(sorted(names)) or 'none'})"
            )
        p = self.params(**overrides)
        check_field_types(p)
        check = getattr(p, "check", None)
        if check:
            check()
        return p

    def __call__(self, passes: PassSet, params: Any = None, progress: Callable | None = None,
                 **overrides: Any) -> np.ndarray:
        """Run on ``passes``; ``progress(done, total)`` is called during long ops, and a True
        return cancels them (raises :class:`InterruptedError`)."""
        reason = self.available()
        if reason:
            raise OpError(f"{self.kind} method '{self.name}' is not available: {reason}")
        if params is None:
            params = self.make_params(**overrides)
        passes.validate(self.requires, finite=True)
        # Guide passes an op reads when present (not only the required ones) must be finite too:
        # a NaN albedo or normal would otherwise spread silently through the filter.
        guides = tuple(n for n in GUIDE_PASSES if n in passes)
        if guides:
            passes.validate(guides, finite=True)
        out = self.fn(passes, params, progress=progress) if self.progress_aware else self.fn(passes, params)
        return np.ascontiguousarray(out, dtype=np.float32)


_REGISTRY: dict[str, dict[str, OpSpec]] = {}


def register(spec: OpSpec) -> OpSpec:
    _REGISTRY.setdefault(spec.kind, {})[spec.name] = spec
    return spec


def get_op(kind: str, name: str) -> OpSpec:
    ops = _REGISTRY.get(kind, {})
    if name not in ops:
        raise OpError(f"unknown {kind} method '{name}' (choose from: {', '.join(ops) or 'none'})")
    return ops[name]


def list_ops(kind: str | None = None) -> list[OpSpec]:
    if kind is None:
        return [s for k in _REGISTRY.values() for s in k.values()]
    return list(_REGISTRY.get(kind, {}).values())


def check_field_types(params: Any) -> None:
    """Every field of a params dataclass has the type of its default (a bool where the default
    is a bool, an integer for an int, a finite number for a float, text for a string): the
    same check for the command line, the add-on and Python callers, before an op runs."""
    for f in dataclasses.fields(params):
        default, v = f.default, getattr(params, f.name)
        if default is dataclasses.MISSING or default is None:
            continue
        if isinstance(default, bool):
            ok, want = isinstance(v, (bool, np.bool_)), "true or false"
        elif isinstance(default, int):
            ok, want = isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_)), "an integer"
        elif isinstance(default, float):
            ok, want = isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_)), \
                "a number"
            if ok and not math.isfinite(float(v)):
                raise OpError(f"parameter '{f.name}' must be a finite number, got {v}")
        elif isinstance(default, str):
            ok, want = isinstance(v, (str, os.PathLike)), "text"
        else:
            continue
        if not ok:
            raise OpError(f"parameter '{f.name}' expects {want}, got {v!r}")
