"""One training run, one folder: the file names it holds and the only code that writes them
(config, checkpoint, log plot) or reads the exported model back (for shipping).

``RUN_DIR/``:

=====================  ===================================================================
``config.json``        the resolved config (and the sample split), written when the run starts
``checkpoint.pt``      modules, optimisers, step, best score, RNG state; rewritten every
                       ``ckpt_every`` steps and on Ctrl-C; rerunning the same command resumes
``best.safetensors``   the best validation weights so far
``log.jsonl``          one row per validation (losses, metrics, learning rate, minutes)
``log.png``            its plot (training loss and the validation metric against step)
``model.safetensors``  the exported best weights, with ``model.json``, its model card
=====================  ===================================================================
"""

from __future__ import annotations

import json
import os
import shlex
import sys
from dataclasses import asdict
from pathlib import Path

from neural_ops.core.errors import NeuralRenderError

CONFIG = "config.json"
CHECKPOINT = "checkpoint.pt"
BEST = "best.safetensors"
LOG = "log.jsonl"
PLOT = "log.png"
MODEL = "model.safetensors"
CARD = "model.json"


def write_config(out: Path, cfg, **extra) -> Path:
    """``out/config.json``: the dataclass ``cfg`` (nested configs included) and ``extra`` fields."""
    path = Path(out) / CONFIG
    path.write_text(json.dumps({**asdict(cfg), **extra}, indent=1, default=str) + "\n")
    return path


def prepare(cfg, log=print) -> tuple[Path, list[int], list[int]]:
    """Start (or resume) a run of a trainer config with fields ``out``, ``data``, ``val_count``,
    ``max_samples`` and ``seed``: make the run folder, seed torch, use every core, split the
    dataset (the highest ``val_count`` indices validate; at most ``max_samples`` train) and
    write ``config.json``. Returns (run folder, training indices, validation indices)."""
    import torch

    from neural_ops.nn.tiling import set_threads

    from .samples import list_samples

    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    set_threads()
    torch.manual_seed(cfg.seed)
    indices = list_samples(Path(cfg.data))
    if len(indices) <= cfg.val_count:
        raise NeuralRenderError(f"{cfg.data}: {len(indices)} samples, need more than --val-count {cfg.val_count}")
    val_idx, train_idx = indices[-cfg.val_count:], indices[: -cfg.val_count]
    if cfg.max_samples:
        train_idx = train_idx[: cfg.max_samples]
    from .distributed import is_main

    if is_main():
        write_config(out, cfg, train_samples=len(train_idx), val_samples=val_idx)
    log(f"loading {len(train_idx)} training and {len(val_idx)} validation samples from {cfg.data}")
    return out, train_idx, val_idx


def save_checkpoint(path: Path, modules: dict, **state) -> None:
    """Write the state dicts of ``modules`` (name -> module or optimiser) and ``state`` (numbers,
    strings, RNG states) to ``path`` atomically: a kill mid-write leaves the old checkpoint."""
    import torch

    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    torch.save({**{k: m.state_dict() for k, m in modules.items()}, **state}, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: Path, modules: dict) -> dict:
    """Load ``modules`` from a checkpoint of :func:`save_checkpoint`; returns the whole stored
    dict (for the step, seconds, RNG state ...). A checkpoint of other settings is a clear error."""
    import torch

    st = torch.load(path, weights_only=True)  # tensors, numbers and strings only: no code runs
    try:
        for k, m in modules.items():
            m.load_state_dict(st[k] if k in st or k != "opt0" else st["opt"])  # "opt": runs older than "opt0"
    except (RuntimeError, ValueError, KeyError) as e:
        raise NeuralRenderError(f"{path} was written by a run with other settings ({str(e).splitlines()[0]}); "
                                "resume with the same options or use a new -o folder") from None
    return st


def plot_log(log_path: Path, png: Path, metric: str = "val_relmse", label: str = "validation relMSE",
             log_scale: bool = True) -> None:
    """Training loss and a validation metric against step, as a PNG (skipped without matplotlib)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    rows = [json.loads(line) for line in Path(log_path).read_text().splitlines() if line.strip()]
    if not rows:
        return
    fig, ax = plt.subplots(1, 2, figsize=(9, 3.2))
    ax[0].plot([r["step"] for r in rows], [r["loss"] for r in rows])
    ax[0].set(xlabel="step", ylabel="training loss", yscale="log")
    v = [r for r in rows if metric in r]
    ax[1].plot([r["step"] for r in v], [r[metric] for r in v], marker=".")
    ax[1].set(xlabel="step", ylabel=label, yscale="log" if log_scale else "linear")
    fig.tight_layout()
    fig.savefig(png, dpi=90)
    plt.close(fig)


def command_line() -> str:
    """The command that started this process, as a model card records it."""
    return "neural-render " + " ".join(shlex.quote(a) for a in sys.argv[1:]) if sys.argv else ""


def machine() -> str:
    """What trained the model, as a model card records it."""
    import torch

    return f"{os.cpu_count()} CPU cores, torch {torch.__version__}"


def read_card(run: Path) -> dict:
    """The model card a finished run exported (``run/model.json``)."""
    path = Path(run) / CARD
    if not path.exists() or not (Path(run) / MODEL).exists():
        raise NeuralRenderError(f"{run}: no exported model ({MODEL} and {CARD}); is the training run finished?")
    return json.loads(path.read_text())
