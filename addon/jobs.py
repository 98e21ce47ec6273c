"""Long operator work without freezing Blender: one job helper for every long operator.

A :class:`Job` is one of two kinds:

- *steps*, for work that must run on the main thread (renders): a generator that does one unit
  (a view, a frame) per ``next`` and returns the final message; the operator advances it on a
  timer, so the interface redraws between units. Cancelling closes the generator, which runs its
  ``finally`` blocks (render settings are restored).
- *work*, for work that never touches ``bpy`` (EXR files, a subprocess): a function run in a
  worker thread with a cancel event it checks between steps.

:class:`JobOperator` runs a job from an operator: a modal handler with a progress bar and status
text, Esc to cancel, and one report line at the end. In background mode (``bpy.app.background``,
where timers never fire) the same job runs synchronously. Nothing here imports ``bpy`` at module
level, so jobs can be tested without Blender.
"""

from __future__ import annotations

import re
import threading
import traceback
from collections.abc import Callable, Generator
from dataclasses import dataclass

from .shim import explain, nops

#: The status-bar text while a job runs.
STATUS = "{label}: {text} (Esc to cancel)"

#: Command-line wording in messages that come from ``neural_ops`` (shared with the CLI), and what
#: the same thing is called in Blender's interface. Applied, in order, to every message the add-on
#: shows (:func:`gui_text`).
GUI_WORDING = (
    (r"\(?pass --overwrite to replace (it|them)\)?", r"(turn on Overwrite to replace \1)"),
    (r"\(?use overwrite to replace (it|them)\)?", r"(turn on Overwrite to replace \1)"),
    (r"\(--method ulr\)", "(Blending: Lumigraph)"),
    (r"--method learned", "Blending: Learned"),
    (r"--temporal", "Temporal"),
    (r"--every", "Every"),
    (r"--method motion", "Method: Follow Motion"),
    (r"--max-flip", "Max FLIP"),
    (r"--no-rerender", "no re-rendering"),
    (r"--param model=NAME", "a shipped model"),
)
#: Any other option name left: ``--ref-spp`` -> ``'Ref Spp'``.
_FLAG = re.compile(r"(?<![\w-])--([a-z][a-z0-9-]*)")


def gui_text(msg: str) -> str:
    """A message in the interface's words, on one line: command-line options named as the
    settings that stand for them in Blender (``pass --overwrite`` -> ``turn on Overwrite``)."""
    text = str(msg)
    for pattern, repl in GUI_WORDING:
        text = re.sub(pattern, repl, text)
    text = _FLAG.sub(lambda m: "'" + m.group(1).replace("-", " ").title() + "'", text)
    return _one_line(text)


def user_message(e: BaseException) -> str:
    """One line for a failure, in the interface's words (:func:`gui_text` of :func:`~.shim.explain`):
    what every operator, render hook and helper engine of the add-on shows."""
    return gui_text(explain(e))


@dataclass
class Progress:
    """How far a job is; the job's function updates it, the operator shows it."""

    done: int = 0
    """Units finished (views, frames, tiles, samples)."""
    total: int = 0
    """Units in all; 0 while unknown."""
    text: str = ""
    """What is happening now, for the status bar."""

    def set(self, done: int, total: int | None = None, text: str | None = None) -> None:
        self.done = done
        if total is not None:
            self.total = total
        if text is not None:
            self.text = text


Steps = Callable[[Progress], Generator[None, None, str]]
Work = Callable[[Progress, threading.Event], str]


def follow(gen: Generator[tuple[int, int, str], None, object], progress: Progress):
    """Step through a generator that yields ``(done, total, text)`` (as the headless library's
    do), recording each in ``progress``; use with ``yield from``, which returns its value."""
    try:
        while True:
            try:
                progress.set(*next(gen))
            except StopIteration as stop:
                return stop.value
            yield
    finally:
        gen.close()


class Job:
    """One long task and its outcome (``level``, ``message``: what the operator reports).

    Args:
        label: what the user started ("Denoise", "Export"), first word of status and messages.
        steps: main-thread work: ``steps(progress)`` is a generator; each ``next`` does one unit,
            its return value is the report.
        work: thread work: ``work(progress, cancel)`` returns the report; it checks ``cancel``
            (a :class:`threading.Event`) between steps and returns or raises ``InterruptedError``.
        cancelled: the report after Esc, formatted with ``label``, ``done`` and ``total``.

    Errors become one line: a :class:`~neural_ops.NeuralRenderError` its message, a missing
    package the package and how to install it, anything else its type and message (with the
    traceback in the console).
    """

    def __init__(self, label: str, *, steps: Steps | None = None, work: Work | None = None,
                 cancelled: str = "{label} cancelled"):
        if (steps is None) == (work is None):
            raise ValueError("a job has either steps or work")
        self.label = label
        self.progress = Progress()
        self.level: str | None = None
        self.message = ""
        self._steps, self._work, self._cancelled = steps, work, cancelled
        self._cancel = threading.Event()
        self._gen: Generator | None = None
        self._thread: threading.Thread | None = None

    @property
    def finished(self) -> bool:
        return self.level is not None

    @property
    def cancelling(self) -> bool:
        return self._cancel.is_set()

    def begin(self) -> None:
        """Start: create the generator, or start the worker thread."""
        if self._steps is not None:
            self._gen = self._steps(self.progress)
        else:
            self._thread = threading.Thread(target=self._run_work, name=f"neural-render {self.label}", daemon=True)
            self._thread.start()

    def tick(self) -> bool:
        """Advance: one step of a steps job, or a look at the worker; True once finished."""
        if self.finished:
            return True
        if self._gen is not None:
            try:
                next(self._gen)
            except StopIteration as stop:
                self._end(stop.value)
            except BaseException as e:  # noqa: BLE001 (every failure becomes the report)
                self._fail(e)
        return self.finished

    def cancel(self) -> None:
        """Ask the job to stop: a steps job stops now, a worker after its current step."""
        self._cancel.set()
        if self._gen is not None and not self.finished:
            try:
                self._gen.close()
            except Exception as e:  # a finally block that failed: say so, but the job is over
                traceback.print_exc()
                print(f"neural-render: {self.label}: {user_message(e)}")
            self._end(None)

    def run(self) -> tuple[str, str]:
        """Run to the end in this thread (background mode); ``(level, message)``."""
        if self._steps is not None:
            self.begin()
            while not self.tick():
                pass
        else:
            self._run_work()
        return self.level, self.message

    def status(self) -> str:
        """The status-bar line now."""
        if self.cancelling:
            return f"{self.label}: cancelling..."
        p = self.progress
        text = p.text or "working"
        if p.total:
            text = f"{text} [{p.done}/{p.total}]"
        return STATUS.format(label=self.label, text=text)

    def _run_work(self) -> None:
        try:
            msg = self._work(self.progress, self._cancel)
        except BaseException as e:  # noqa: BLE001 (every failure becomes the report)
            self._fail(e)
        else:
            self._end(msg)

    def _end(self, msg) -> None:
        if self._cancel.is_set():
            p = self.progress
            self.level, self.message = "WARNING", self._cancelled.format(label=self.label, done=p.done, total=p.total)
        else:
            self.level, self.message = "INFO", gui_text(msg or f"{self.label} finished")

    def _fail(self, e: BaseException) -> None:
        if isinstance(e, InterruptedError) or self._cancel.is_set():
            self._cancel.set()
            self._end(None)
            return
        if not isinstance(e, (nops.NeuralRenderError, ImportError)):
            traceback.print_exc()  # a bug: the console keeps the trace, the user gets one line
        self.level, self.message = "ERROR", f"{self.label}: {user_message(e)}"


def _one_line(msg: str) -> str:
    return " ".join(str(msg).split())


class JobOperator:
    """Mixin for operators that run a :class:`Job`: ``execute`` ends with
    ``return self.run_job(context, job)``; the mixin's ``modal`` does the rest."""

    _job: Job | None = None
    _timer = None

    def run_job(self, context, job: Job, interval: float = 0.05) -> set[str]:
        import bpy

        if bpy.app.background or context.window is None:
            return self._report_job(job.run())
        self._job = job
        job.begin()
        wm = context.window_manager
        wm.progress_begin(0, 100)
        self._timer = wm.event_timer_add(interval, window=context.window)
        wm.modal_handler_add(self)
        _status(context, job.status())
        return {"RUNNING_MODAL"}

    def modal(self, context, event):
        job = self._job
        if event.type == "ESC" and event.value == "PRESS":
            job.cancel()
        elif event.type != "TIMER":
            return {"PASS_THROUGH"}
        elif not job.tick():
            p = job.progress
            context.window_manager.progress_update(int(100 * p.done / p.total) if p.total else 0)
            _status(context, job.status())
            return {"PASS_THROUGH"}
        if not job.finished:  # Esc on a worker: wait for it to stop after its current step
            _status(context, job.status())
            return {"RUNNING_MODAL"}
        wm = context.window_manager
        wm.event_timer_remove(self._timer)
        wm.progress_end()
        _status(context, None)
        return self._report_job((job.level, job.message))

    def _report_job(self, outcome: tuple[str, str]) -> set[str]:
        level, message = outcome
        self.report({level}, message)
        return {"FINISHED"} if level == "INFO" else {"CANCELLED"}


def _status(context, text: str | None) -> None:
    if getattr(context, "workspace", None) is not None:
        context.workspace.status_text_set(text)
