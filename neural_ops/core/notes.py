"""One line on stderr when an op does something other than asked (a fallback): the user sees
what happened, once per process and message, and nothing is silent."""

from __future__ import annotations

import sys
from contextlib import contextmanager

_said: set[str] = set()
_quiet = [0]
#: A long batch (a training loop over many files) says at most this many different things.
MAX_NOTES = 50


def note(message: str) -> None:
    """Print ``neural-render: message`` once (the same message again is not repeated)."""
    if _quiet[0] or message in _said:
        return
    _said.add(message)
    if len(_said) > MAX_NOTES:
        if len(_said) == MAX_NOTES + 1:
            print(f"neural-render: (more than {MAX_NOTES} notes; the rest are not shown)", file=sys.stderr, flush=True)
        return
    print(f"neural-render: {message}", file=sys.stderr, flush=True)


@contextmanager
def quiet():
    """No notes inside: for set-up calls on synthetic frames (warming up libraries and weights),
    whose fallbacks say nothing about the user's files."""
    _quiet[0] += 1
    try:
        yield
    finally:
        _quiet[0] -= 1
