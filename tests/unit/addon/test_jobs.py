"""The job helper (addon.jobs) without Blender: steps and worker jobs, cancel, one-line reports."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from types import SimpleNamespace

import pytest

from addon import jobs
from neural_ops import OpError


def _steps(n, log):
    def steps(progress):
        progress.total = n
        try:
            for i in range(n):
                log.append(i)
                progress.done = i + 1
                yield
        finally:
            log.append("restored")
        return f"did {n}"

    return steps


def test_steps_job_runs_to_the_end():
    log = []
    job = jobs.Job("Export", steps=_steps(3, log))
    assert job.run() == ("INFO", "did 3")
    assert log == [0, 1, 2, "restored"]


def test_steps_job_cancelled_between_steps_restores():
    log = []
    job = jobs.Job("Export", steps=_steps(5, log), cancelled="{label} cancelled after {done} of {total}")
    job.begin()
    assert not job.tick() and not job.tick()
    assert "[2/5]" in job.status() and "Esc" in job.status()
    job.cancel()
    assert job.finished and (job.level, job.message) == ("WARNING", "Export cancelled after 2 of 5")
    assert log == [0, 1, "restored"]  # the generator's finally ran: settings restored


def test_worker_job_and_cancel():
    started = threading.Event()

    def work(progress, cancel):
        started.set()
        while not cancel.wait(0.01):
            progress.set(progress.done + 1, 0, "looping")
        raise InterruptedError

    job = jobs.Job("Denoise", work=work, cancelled="Denoise cancelled; nothing was written")
    job.begin()
    assert started.wait(5)
    assert not job.tick()
    job.cancel()
    assert job.status() == "Denoise: cancelling..."
    for _ in range(500):
        if job.tick():
            break
        time.sleep(0.01)
    assert (job.level, job.message) == ("WARNING", "Denoise cancelled; nothing was written")


@pytest.mark.parametrize("error, want", [
    (OpError("bad file\nsecond line"), "Denoise: bad file second line"),
    (ModuleNotFoundError("No module named 'OpenEXR'", name="OpenEXR"), "the Python package 'OpenEXR'"),
    (ZeroDivisionError("division by zero"), "Denoise: ZeroDivisionError: division by zero"),
])
def test_errors_become_one_line(error, want):
    def work(progress, cancel):
        raise error

    level, message = jobs.Job("Denoise", work=work).run()
    assert level == "ERROR" and want in message and "\n" not in message


def test_follow_records_progress_and_returns_the_value():
    def inner():
        yield 1, 3, "rendered frame 1"
        yield 2, 3, "synthesised frame 2"
        return {"frames": 3}

    def steps(progress):
        s = yield from jobs.follow(inner(), progress)
        assert progress.text == "synthesised frame 2" and progress.done == 2
        return f"{s['frames']} frames"

    assert jobs.Job("Render 1 in N", steps=steps).run() == ("INFO", "3 frames")


def test_add_on_logic_imports_without_bpy():
    code = ("import sys; import addon.params, addon.jobs, addon.blender.lighting, addon.blender.export; "
            "print('bpy' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


class _WM:
    def __init__(self):
        self.calls = []

    def progress_update(self, v):
        self.calls.append(("progress", v))

    def event_timer_remove(self, timer):
        self.calls.append(("timer_remove", timer))

    def progress_end(self):
        self.calls.append(("progress_end",))


class _Workspace:
    def __init__(self):
        self.status = []

    def status_text_set(self, text):
        self.status.append(text)


class _Op(jobs.JobOperator):
    def __init__(self, job):
        self._job, self._timer, self.reports = job, "timer", []
        job.begin()

    def report(self, level, message):
        self.reports.append((*level, message))


def _event(kind, value="NOTHING"):
    return SimpleNamespace(type=kind, value=value)


def test_modal_advances_on_timer_and_reports_once():
    ctx = SimpleNamespace(window_manager=_WM(), workspace=_Workspace())
    op = _Op(jobs.Job("Export", steps=_steps(2, [])))
    assert op.modal(ctx, _event("MOUSEMOVE")) == {"PASS_THROUGH"}  # the interface stays usable
    assert op.modal(ctx, _event("TIMER")) == {"PASS_THROUGH"}
    assert ("progress", 50) in ctx.window_manager.calls and "[1/2]" in ctx.workspace.status[-1]
    op.modal(ctx, _event("TIMER"))
    assert op.modal(ctx, _event("TIMER")) == {"FINISHED"}
    assert op.reports == [("INFO", "did 2")] and ctx.workspace.status[-1] is None
    assert ("timer_remove", "timer") in ctx.window_manager.calls and ("progress_end",) in ctx.window_manager.calls


def test_modal_escape_cancels():
    ctx = SimpleNamespace(window_manager=_WM(), workspace=_Workspace())
    op = _Op(jobs.Job("Export", steps=_steps(4, []), cancelled="{label} cancelled after {done} of {total}"))
    op.modal(ctx, _event("TIMER"))
    assert op.modal(ctx, _event("ESC", "PRESS")) == {"CANCELLED"}
    assert op.reports == [("WARNING", "Export cancelled after 1 of 4")]
