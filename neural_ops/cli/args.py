"""Command-line arguments: frame and number lists, ``--param NAME=VALUE``, and options generated
from a config dataclass.

A config dataclass is the one place for an option's default and its help: :func:`add_config`
adds one option per field (fields of a nested dataclass, such as a trainer's ``model``, are
flattened into the same parser), takes each field's help from the docstring written under it (or
from the class docstring's ``Attributes:`` section) and builds the config from the parsed
namespace, passing only the options given so that every other field keeps the dataclass default.

Field types map to options as follows: ``int``, ``float``, ``str`` (``X | None`` alike) take one
value; ``list[int]`` a comma-separated list (``--spp 1,4,16``); ``list[str]`` a repeatable option;
``bool`` a ``--name``/``--no-name`` pair. Field ``metadata`` refines this (all keys optional):

- ``flag``: the option string(s) instead of ``--field-name``, e.g. ``("-o", "--output")``; on a
  bool, one flag that sets the field to the opposite of its default (``--noisy-views``).
- ``positional``: a positional argument instead of an option.
- ``choices``: the values allowed.
- ``min``: the smallest value of an ``int`` or ``float`` field (a float is always finite).
- ``metavar``: the placeholder in the usage line.
- ``parse``: a callable text -> value for other types (an error it raises is the user's).
- ``format``: a callable value -> text for the default shown in the help.
- ``cli``: False leaves the field off the command line.
- ``hide``: on a nested dataclass field, names of its fields left off the command line (ones the
  trainer sets itself).

This module imports nothing but the standard library and ``neural_ops.core.errors``.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import inspect
import re
import textwrap
import types
import typing
from functools import cache

from ..core.errors import NeuralRenderError, OpError


def parse_frames(text: str) -> list[int]:
    """'1-10', '3', '1,5,9-12' -> frame numbers (ascending ranges, non-negative)."""
    frames: list[int] = []
    try:
        for part in filter(None, (p.strip() for p in text.split(","))):
            if "-" in part:
                a, b = part.split("-", 1)
                lo, hi = int(a), int(b)
                if hi < lo or lo < 0:
                    raise ValueError
                frames.extend(range(lo, hi + 1))
            else:
                if int(part) < 0:
                    raise ValueError
                frames.append(int(part))
    except ValueError:
        raise NeuralRenderError(f"bad frame list '{text}': use e.g. 1-10 or 1,5,9-12") from None
    if not frames:
        raise NeuralRenderError("empty frame list")
    return frames


def parse_number(text: str, tp: type, option: str, minimum: float | None = None) -> int | float:
    """One ``int`` or finite ``float`` option value, at least ``minimum``; a one-line error."""
    import math

    try:
        v = tp(text)
    except ValueError:
        raise NeuralRenderError(f"{option}: expects {'an integer' if tp is int else 'a number'}, got '{text}'") from None
    if tp is float and not math.isfinite(v):
        raise NeuralRenderError(f"{option}: must be a finite number, got '{text}'")
    if minimum is not None and v < minimum:
        raise NeuralRenderError(f"{option}: must be at least {minimum}, got {text}")
    return v


def at_least(minimum: int) -> typing.Callable[[str], int]:
    """An argparse ``type``: an integer of at least ``minimum`` (``--spp 0`` is refused)."""

    def parse(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expects an integer, got '{text}'") from None
        if v < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {v}")
        return v

    parse.__name__ = f"integer >= {minimum}"
    return parse


def parse_ints(text: str, option: str) -> list[int]:
    """'1,4,16' -> [1, 4, 16] (positive integers); a one-line error naming the bad value."""
    out = []
    for part in (p.strip() for p in text.split(",")):
        try:
            v = int(part)
        except ValueError:
            v = 0
        if v < 1:
            raise NeuralRenderError(f"bad {option} '{text}': '{part}' is not a positive integer (use e.g. 1,4,16)")
        out.append(v)
    return out


def parse_params(spec, pairs: list[str]) -> dict:
    """['radius=4', 'despike=false'] -> typed kwargs for the method's params dataclass."""
    fields = {f.name: f for f in dataclasses.fields(spec.params)}
    out = {}
    for pair in pairs:
        if "=" not in pair:
            raise OpError(f"--param expects NAME=VALUE, got '{pair}'")
        k, v = pair.split("=", 1)
        if k not in fields:
            raise OpError(f"method '{spec.name}' has no parameter '{k}' (valid: {', '.join(fields) or 'none'})")
        typ = type(fields[k].default)
        try:
            if typ is bool:
                if v.lower() not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
                    raise ValueError
                out[k] = v.lower() in ("1", "true", "yes", "on")
            else:
                out[k] = typ(v)
        except ValueError:
            want = {bool: "true or false", int: "an integer", float: "a number"}.get(typ, f"a {typ.__name__}")
            raise OpError(f"parameter '{k}' expects {want}, got {v!r}") from None
    return out


class Parser(argparse.ArgumentParser):
    """An argument parser whose options can be added on first use (``populate``).

    The train and eval parsers come from config dataclasses in modules that import torch; a
    populate function imports them only when that command is parsed or its ``--help`` is shown,
    so ``neural-render ops`` does not pay for torch. Sub-parsers made through
    :meth:`add_subparsers` are of this class too, so ``add_parser(..., populate=fn)`` works at
    every level.
    """

    def __init__(self, *args, populate=None, **kwargs):
        super().__init__(*args, **kwargs)
        self._populate = populate

    def _fill(self) -> None:
        if self._populate is not None:
            fn, self._populate = self._populate, None
            fn(self)

    def parse_known_args(self, args=None, namespace=None):
        self._fill()
        return super().parse_known_args(args, namespace)

    def format_help(self) -> str:
        self._fill()
        return super().format_help()

    def error(self, message: str):
        """One line, as every other error (``--help`` shows the usage)."""
        self.exit(2, f"error: {self.prog}: {message} (see --help)\n")

    def format_usage(self) -> str:
        self._fill()
        return super().format_usage()


# -- field docs --------------------------------------------------------------------------------


@cache
def field_docs(cls: type) -> dict[str, str]:
    """Field name -> its help: the string literal written under the field in the class body,
    else its entry in the class docstring's ``Attributes:`` section (``a, b: text`` documents
    both). Whitespace is collapsed to single spaces; RST double backquotes are dropped."""
    # A base class's docs first, so a field a subclass declares again to change its default
    # (without a docstring) keeps the base's help.
    docs: dict[str, str] = {}
    for base in cls.__mro__[1:]:
        if dataclasses.is_dataclass(base):
            docs.update(field_docs(base))
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    except (OSError, TypeError, SyntaxError):
        tree = None
    if tree is not None and tree.body and isinstance(tree.body[0], ast.ClassDef):
        body = tree.body[0].body
        for node, nxt in zip(body, body[1:]):
            if (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and isinstance(nxt, ast.Expr)
                    and isinstance(nxt.value, ast.Constant) and isinstance(nxt.value.value, str)):
                docs[node.target.id] = nxt.value.value
    for names, text in _attributes_section(inspect.getdoc(cls) or ""):
        for name in names:
            docs.setdefault(name, text)
    return {k: _plain(v) for k, v in docs.items()}


def _plain(text: str) -> str:
    """Docstring text as one line of help: RST roles and literals unwrapped, spaces collapsed."""
    text = re.sub(r":\w+:`~?([^`]+)`", r"\1", text).replace("``", "")
    return " ".join(text.split())


def _attributes_section(doc: str) -> list[tuple[list[str], str]]:
    """Entries ``name[, name...]: text`` (text continued on more deeply indented lines) of a
    Google-style ``Attributes:`` section."""
    lines = doc.splitlines()
    try:
        start = next(i for i, line in enumerate(lines) if line.strip() == "Attributes:")
    except StopIteration:
        return []
    entries: list[tuple[list[str], str]] = []
    indent = None
    for line in lines[start + 1 :]:
        if not line.strip():
            continue
        ind = len(line) - len(line.lstrip())
        if indent is None:
            indent = ind
        if ind < indent:
            break
        head, sep, text = line.strip().partition(":")
        names = [n.strip() for n in head.split(",")]
        if ind == indent and sep and all(n.isidentifier() for n in names):
            entries.append((names, text.strip()))
        elif entries:
            entries[-1] = (entries[-1][0], f"{entries[-1][1]} {line.strip()}")
    return entries


# -- dataclass -> options -----------------------------------------------------------------------


@dataclasses.dataclass
class _Option:
    path: tuple[str, ...]  # field names from the outer config down, e.g. ("model", "channels")
    dest: str
    option: str  # as named in errors, e.g. "--spp"
    convert: typing.Callable[[object], object] | None  # applied after argparse (one-line errors)


def _base_type(tp):
    """``X | None`` -> X; anything else unchanged."""
    if isinstance(tp, types.UnionType) or typing.get_origin(tp) is typing.Union:
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return tp


def _show(value, fmt) -> str | None:
    if fmt is not None:
        return fmt(value)
    if value is None or value == "" or value == []:
        return None
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    return str(value)


class ConfigArgs:
    """The options of one config dataclass in one parser; :meth:`build` makes the config."""

    def __init__(self, parser: argparse.ArgumentParser, cls: type, *, skip: tuple[str, ...] = ()):
        self.cls = cls
        self.options: list[_Option] = []
        self._nested: dict[str, type] = {}
        self._add(parser, cls, (), _default_instance(cls), set(skip))

    def _add(self, parser, cls, path, default, skip) -> None:
        hints = typing.get_type_hints(cls)
        docs = field_docs(cls)
        for f in dataclasses.fields(cls):
            meta = f.metadata
            if f.name in skip or meta.get("cli", True) is False or not f.init:
                continue
            tp = _base_type(hints[f.name])
            value = getattr(default, f.name, dataclasses.MISSING)
            if dataclasses.is_dataclass(tp):
                nested = value if dataclasses.is_dataclass(value) else _default_instance(tp)
                self._nested[".".join((*path, f.name))] = tp
                self._add(parser, tp, (*path, f.name), nested, set(meta.get("hide", ())))
                continue
            self._add_field(parser, f, tp, (*path, f.name), value, docs.get(f.name, ""))

    def _add_field(self, parser, f, tp, path, value, doc) -> None:
        meta = f.metadata
        dest = ".".join(path)
        flags = meta.get("flag") or f"--{f.name.replace('_', '-')}"
        flags = (flags,) if isinstance(flags, str) else tuple(flags)
        required = value is dataclasses.MISSING
        shown = None if required else _show(value, meta.get("format"))
        kw: dict = {"help": doc}
        convert = None
        origin, targs = typing.get_origin(tp), typing.get_args(tp)
        if "parse" in meta:
            convert = meta["parse"]
            kw["metavar"] = meta.get("metavar", "TEXT")
        elif tp is bool:
            if meta.get("flag"):
                # One named flag that flips the default (e.g. --noisy-views sets denoise off).
                kw.update(action="store_const", const=not value)
                shown = None
            else:
                kw["action"] = argparse.BooleanOptionalAction
        elif origin is list and targs == (int,):
            option = flags[-1]
            convert = lambda text, option=option: parse_ints(text, option)  # noqa: E731
            kw["metavar"] = meta.get("metavar", "N,N,...")
        elif origin is list and targs == (str,):
            kw.update(action="append", metavar=meta.get("metavar", "TEXT"))
            if shown:
                shown += " (each given replaces the default)"
        elif tp in (int, float) and "choices" not in meta:
            option, lo = flags[-1], meta.get("min")
            convert = lambda text, tp=tp, option=option, lo=lo: parse_number(text, tp, option, lo)  # noqa: E731
            kw["metavar"] = meta.get("metavar", flags[-1].lstrip("-").replace("-", "_").upper())
        elif tp in (int, float, str):
            kw["type"] = tp
            if "metavar" in meta or "choices" not in meta:
                kw["metavar"] = meta.get("metavar", flags[-1].lstrip("-").replace("-", "_").upper())
        else:
            raise TypeError(f"{f.name}: no command-line form for {tp!r}; give metadata 'parse' or 'cli': False")
        if "choices" in meta:
            kw["choices"] = tuple(meta["choices"])
        if shown is not None and kw["help"] != argparse.SUPPRESS:
            kw["help"] = f"{doc} (default: {shown})".lstrip()
        kw["help"] = kw["help"].replace("%", "%%")
        if meta.get("positional"):
            kw.pop("metavar", None)
            if not required:
                kw["nargs"] = "?"
            parser.add_argument(dest, default=argparse.SUPPRESS, **kw)
        else:
            parser.add_argument(*flags, dest=dest, default=argparse.SUPPRESS, required=required, **kw)
        self.options.append(_Option(path, dest, flags[-1], convert))

    def build(self, ns: argparse.Namespace):
        """The config: the dataclass defaults with every option the user gave on top."""
        given: dict[tuple[str, ...], object] = {}
        for o in self.options:
            if hasattr(ns, o.dest):
                v = getattr(ns, o.dest)
                given[o.path] = o.convert(v) if o.convert is not None and isinstance(v, str) else v
        return self.cls(**self._changes(self.cls, (), given, _default_instance(self.cls)))

    def _changes(self, cls, path, given, default) -> dict:
        """Keyword arguments for the fields of ``cls`` (at ``path``) that options changed."""
        out = {}
        for f in dataclasses.fields(cls):
            p = (*path, f.name)
            nested = self._nested.get(".".join(p))
            if nested is not None:
                # Start from the outer default's nested config: a trainer may default its
                # model differently from the model class (e.g. fewer channels).
                base = getattr(default, f.name, None)
                base = base if dataclasses.is_dataclass(base) else _default_instance(nested)
                sub = self._changes(nested, p, given, base)
                if sub:
                    out[f.name] = dataclasses.replace(base, **sub)
            elif p in given:
                out[f.name] = given[p]
        return out


def _default_instance(cls):
    """An instance with every defaulted field at its default (None when a field is required)."""
    try:
        return cls()
    except TypeError:
        pass
    out = types.SimpleNamespace()
    for f in dataclasses.fields(cls):
        if f.default is not dataclasses.MISSING:
            setattr(out, f.name, f.default)
        elif f.default_factory is not dataclasses.MISSING:
            setattr(out, f.name, f.default_factory())
    return out


def add_config(parser: argparse.ArgumentParser, cls: type, *, skip: tuple[str, ...] = ()) -> ConfigArgs:
    """Add one option per field of the dataclass ``cls`` to ``parser`` (see the module doc);
    ``skip``: top-level fields the command fills in itself. Returns the binding whose
    :meth:`ConfigArgs.build` turns the parsed namespace into a ``cls``."""
    return ConfigArgs(parser, cls, skip=skip)
