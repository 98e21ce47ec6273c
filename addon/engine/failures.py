"""How a failure inside a render is told: one line, in the status bar and the render log.

The render hook (:mod:`.render_pass`) and the helper engines (:mod:`.helper_scene`) never let an
op's failure abort a render or blacken a frame: they pass the original image through and call
:func:`report` once. The line goes to the engine's report (Blender's status bar and Info log)
and to the console, which is the render log of a command-line render.
"""

from __future__ import annotations

from ..jobs import gui_text, user_message

#: Every line reported since the add-on was registered, newest last (tests and scripts read it;
#: bounded so that a long animation does not grow it without end).
recent: list[str] = []
_KEEP = 100


def report(engine, what: str, error: BaseException | str, level: str = "WARNING") -> str:
    """Report ``what`` failed because of ``error`` (an exception or a sentence) on one line; the line.

    A warning, not an error: the render itself succeeded (with the original image in place of
    the op's result), and an error report would make a script's ``bpy.ops.render.render`` call
    raise although the frame was rendered and written."""
    why = user_message(error) if isinstance(error, BaseException) else gui_text(error)
    msg = gui_text(f"{what} failed: {why}; the original image was passed through")
    print(f"neural-render: {msg}")
    if engine is not None:
        try:
            engine.report({level}, msg)
        except Exception:  # noqa: BLE001 (an engine already freed: the console line is enough)
            pass
    recent.append(msg)
    del recent[:-_KEEP]
    return msg


def note(engine, msg: str) -> str:
    """A warning that is not a failure (a fallback method, a pass the op would like), one line."""
    line = gui_text(msg)
    print(f"neural-render: {line}")
    if engine is not None:
        try:
            engine.report({"WARNING"}, line)
        except Exception:  # noqa: BLE001
            pass
    return line
