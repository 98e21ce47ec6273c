"""The training loop every op's trainer shares: time budget, learning-rate schedule, validation
and best weights, checkpoints with resume, Ctrl-C, the log and its plot, the model card fields.

A trainer supplies the data (a ``step(lr) -> {loss name: value}`` function that takes one
optimiser step and a ``validate() -> {"val_...": value}`` function) and the modules to
checkpoint; :func:`run` does the rest. The run folder it fills (checkpoint, best weights, log)
is described, and written, by :mod:`training.common.runs`. This module knows no op.
"""

from __future__ import annotations

import json
import math
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch

from . import runs


def descend(opt, net, loss, clip: float | None = 1.0) -> float:
    """One optimiser step on ``loss``: clear the gradients, back-propagate, clip the gradient
    norm of ``net`` (None: no clipping), step. Returns the loss as a float."""
    import torch

    opt.zero_grad(set_to_none=True)
    loss.backward()
    if clip is not None:
        torch.nn.utils.clip_grad_norm_(net.parameters(), clip)
    opt.step()
    return float(loss.detach())


@dataclass(kw_only=True)
class RunConfig:
    """The options every training run has, which every op's training config extends (an op
    changes a default by declaring the field again, without a docstring)."""

    steps: int = 4000
    """Optimiser steps in total."""
    minutes: float = 0.0
    """Stop (and export) after this much training time; 0: no limit."""
    batch: int = 8
    """Crops per step."""
    crop: int = 64
    """Crop side in pixels."""
    lr: float = 1e-3
    """Peak learning rate (AdamW, cosine decay after a short warm-up)."""
    ckpt_every: int = 200
    """Steps between checkpoints."""
    seed: int = 0
    """Seed for crops, augmentation and initialisation."""


@dataclass(kw_only=True)
class LoopConfig(RunConfig):
    """A run of the shared loop (:func:`run`): validation on held-out samples as well."""

    val_count: int = field(default=12, metadata={"min": 1})
    """Samples held out for validation (the highest indices)."""
    val_every: int = field(default=100, metadata={"min": 1})
    """Steps between validations (and log lines)."""
    max_samples: int = 0
    """Train on at most this many samples (0: all), for data-size curves."""

    def schedule(self) -> Schedule:
        return Schedule(self.steps, self.minutes, self.lr, self.val_every, self.ckpt_every)


@dataclass
class Schedule:
    """``steps`` in total, or until ``minutes`` of training time (0: no limit); peak ``lr`` after
    a short warm-up, then cosine decay to 2 % over whichever of the two runs out first."""

    steps: int
    minutes: float = 0.0
    lr: float = 1e-3
    val_every: int = field(default=100, metadata={"min": 1})
    ckpt_every: int = 200

    def lr_at(self, step: int, seconds: float = 0.0) -> float:
        warm = min(200, self.steps // 10)
        if step < warm:
            return self.lr * (step + 1) / warm
        t = (step - warm) / max(1, self.steps - warm)
        if self.minutes:
            t = max(t, seconds / (self.minutes * 60))
        return self.lr * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * min(1.0, t))))


@dataclass
class Result:
    steps: int
    seconds: float
    best: dict


def run(out: Path, net: torch.nn.Module, optimisers: list[torch.optim.Optimizer], step: Callable[[float], dict],
        validate: Callable[[], dict], schedule: Schedule, metric: str, higher_is_better: bool,
        extra_modules: dict | None = None, rng=None, log=print, metric_label: str = "") -> Result:
    """Train ``net`` (resuming from ``out/checkpoint.pt`` if there) and load its best weights.

    Args:
        step: takes the learning rate, does one optimiser step, returns the losses as floats
            (``loss`` is the one printed).
        validate: returns ``{metric: value, ...}``; the best ``metric`` keeps its weights.
        extra_modules: other modules and optimisers to checkpoint (e.g. discriminators).
        rng: a numpy Generator whose state is checkpointed (batch sampling).
    """
    from . import distributed

    main = distributed.is_main()
    if not main:
        log = lambda *a, **k: None  # noqa: E731 (process 0 speaks for the run)
    out.mkdir(parents=True, exist_ok=True)
    ckpt = out / runs.CHECKPOINT
    mods = {"model": net, **{f"opt{i}": o for i, o in enumerate(optimisers)}, **(extra_modules or {})}
    worst = -float("inf") if higher_is_better else float("inf")
    n_step, best, spent = 0, {metric: worst}, 0.0
    if ckpt.exists():
        st = runs.load_checkpoint(ckpt, mods)
        n_step, best, spent = st["step"], st["best"], st["seconds"]
        if rng is not None and main:
            rng.bit_generator.state = st["rng"]
        log(f"resumed at step {n_step} ({spent / 60:.1f} min trained)")
    best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
    if (out / runs.BEST).exists():
        from neural_ops.nn.weights import load_state

        best_state = load_state(out / runs.BEST)

    def save_ckpt():
        if not main:
            return
        extra = {"rng": rng.bit_generator.state} if rng is not None else {}
        runs.save_checkpoint(ckpt, mods, step=n_step, best=best, seconds=spent, **extra)

    stop = {"now": False}

    def on_signal(signum, frame):
        stop["now"] = True
        log("stopping after this step (checkpoint will be saved)...")

    def better(v: float) -> bool:
        return v > best[metric] if higher_is_better else v < best[metric]

    old = signal.signal(signal.SIGINT, on_signal)
    net.train()
    t_last, sums, n = time.perf_counter(), {}, 0
    try:
        with (out / runs.LOG).open("a") as logf:
            while n_step < schedule.steps:
                # Process 0's clock decides the budget and the learning rate (the others also
                # count their wait for its validation); a stop anywhere stops every process.
                stop_any, clock = distributed.sync(stop["now"], spent)
                if schedule.minutes and clock >= schedule.minutes * 60:
                    log(f"time budget of {schedule.minutes} min reached at step {n_step}")
                    break
                if stop_any:
                    break
                lr = schedule.lr_at(n_step, clock)
                for opt in optimisers:
                    for g in opt.param_groups:
                        g["lr"] = lr
                for k, v in step(lr).items():
                    sums[k] = sums.get(k, 0.0) + v
                n_step += 1
                n += 1
                now = time.perf_counter()
                spent += now - t_last
                t_last = now
                if (n_step % schedule.val_every == 0 or n_step == schedule.steps) and not main:
                    sums, n = {}, 0
                elif n_step % schedule.val_every == 0 or n_step == schedule.steps:
                    row = {"step": n_step, **{k: v / n for k, v in sums.items()}, "lr": lr, "minutes": spent / 60}
                    net.eval()
                    with torch.inference_mode():
                        row.update(validate())
                    net.train()
                    t_last = time.perf_counter()  # validation is not training time
                    if better(row[metric]):
                        best = {**row}
                        best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
                        from safetensors.torch import save_file

                        save_file(best_state, str(out / runs.BEST))
                    logf.write(json.dumps(row) + "\n")
                    logf.flush()
                    eta = spent / n_step * (schedule.steps - n_step) / 60
                    if schedule.minutes:
                        eta = min(eta, max(0.0, schedule.minutes - spent / 60))
                    extras = " ".join(f"{k} {v:.4f}" for k, v in row.items() if k not in ("step", "lr", "minutes", metric)
                                      and not k.startswith("val_"))
                    log(f"step {n_step}/{schedule.steps} {extras} {metric_label or metric} {row[metric]:.5g} | "
                        f"{spent / 60:.1f} min, ETA {eta:.1f} min")
                    sums, n = {}, 0
                if n_step % schedule.ckpt_every == 0:
                    save_ckpt()
    finally:
        signal.signal(signal.SIGINT, old)
        save_ckpt()
        if main:
            runs.plot_log(out / runs.LOG, out / runs.PLOT, metric, metric_label or metric, log_scale=not higher_is_better)
    net.load_state_dict(best_state)
    return Result(n_step, spent, best)


def card(kind: str, net, data: dict, train: dict, result: Result) -> dict:
    """The model card fields every trainer writes (the architecture config is added on save)."""
    from neural_ops.nn.blocks import count_parameters

    return {
        "kind": kind,
        "command": runs.command_line(),
        "data": data,
        "train": {"steps": result.steps, "minutes": round(result.seconds / 60, 1), **train,
                  "machine": runs.machine()},
        "parameters": count_parameters(net),
        "validation": {k: v for k, v in result.best.items() if k.startswith("val_") or k == "step"},
    }
