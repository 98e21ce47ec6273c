"""One line on stderr when an op does something other than asked (a fallback): the user sees
what happened, once per process and message, and nothing is silent."""

from __future__ import annotations

import sys

_said: set[str] = set()


def note(message: str) -> None:
    """Print ``neural-render: message`` once (the same message again is not repeated)."""
    if message in _said:
        return
    _said.add(message)
    print(f"neural-render: {message}", file=sys.stderr, flush=True)
