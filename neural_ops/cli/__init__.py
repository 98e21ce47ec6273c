"""``neural-render``: one command, one subcommand per job, contributed by plugins.

This package is the shell: the parser, the error handling and the file commands
(:mod:`.files`). Other packages add their commands through the entry-point group
``neural_render.commands``; each entry point is a function ``register(subparsers)`` that adds
sub-parsers (``addon.cli``: export, demo, inbetween, build-extension; ``training.cli``: data,
train, eval, ship, curves, benchmark). So ``neural_ops`` never names them, and ``--help`` lists
what is installed. A plugin that fails to load leaves the other commands working; the failure is
shown only at the end of ``--help``.

Errors a user can fix print as one line, ``error: ...``, with exit status 2; Ctrl-C exits 130.
``python -m neural_ops`` runs the same :func:`main`.
"""

from __future__ import annotations

import sys
from importlib.metadata import entry_points

from ..core.errors import NeuralRenderError
from .args import Parser, parse_frames, parse_ints, parse_params

__all__ = ["ENTRY_POINT_GROUP", "build_parser", "main", "parse_frames", "parse_ints", "parse_params", "plugins"]

#: Entry-point group of the command plugins.
ENTRY_POINT_GROUP = "neural_render.commands"


def plugins() -> list:
    """The installed command plugins, the file commands first, then by name."""
    eps = list(entry_points(group=ENTRY_POINT_GROUP))
    return sorted(eps, key=lambda ep: (ep.name != "files", ep.name))


def _register(sub, register) -> None:
    """Call one plugin's ``register``; if it fails, remove whatever it had added."""
    names, choices = dict(sub._name_parser_map), list(sub._choices_actions)
    try:
        register(sub)
    except BaseException:
        sub._name_parser_map.clear()
        sub._name_parser_map.update(names)
        sub._choices_actions[:] = choices
        raise


def build_parser() -> Parser:
    """The ``neural-render`` parser with every installed plugin's commands."""
    p = Parser(
        prog="neural-render",
        description="Neural rendering ops on Blender render passes (multilayer EXR + JSON sidecar).",
    )
    sub = p.add_subparsers(dest="cmd", required=True, metavar="COMMAND")
    found, failed = set(), []
    for ep in plugins():
        try:
            _register(sub, ep.load())
            found.add(ep.name)
        except Exception as e:  # a broken plugin must not take the other commands down
            failed.append(f"{ep.name} ({ep.value}): {type(e).__name__}: {e}")
    if "files" not in found and not any(name.startswith("files") for name, _ in failed):
        # Run from a checkout that was never pip-installed: the file commands are ours anyway.
        from . import files

        _register(sub, files.register)
    epilog = ["Run 'neural-render demo' to render the bundled scene and compare every denoiser."]
    if failed:
        epilog.append("Command plugins that failed to load: " + "; ".join(failed))
    p.epilog = "\n".join(epilog)
    return p


def main(argv: list[str] | None = None) -> int:
    if argv is None:  # the command itself (not a test calling main): SIGTERM cleans up as Ctrl-C does
        from ..core.outputs import exit_on_sigterm

        exit_on_sigterm()
    try:
        try:
            args = build_parser().parse_args(argv)  # may import a command's config (and fail in one line)
        except SystemExit as e:  # --help (0), or a usage error already printed in one line (2)
            return e.code if isinstance(e.code, int) else 2
        return args.fn(args)
    except NeuralRenderError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (``neural-render info F | head``): stop quietly, as Unix tools do.
        sys.stderr.close()
        return 141
