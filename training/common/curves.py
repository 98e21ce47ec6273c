"""What more training would buy: quality against training time and against training-set size.

``neural-render curves --runs data/runs/a data/runs/b ... --eval EVAL.json --anchor oidn -o curves.png``
plots each run's validation relMSE against training minutes (from its ``log.jsonl``) and, from a
held-out evaluation that included the runs as models, held-out relMSE at 4 spp against the
number of training scenes, with the anchor (OIDN) as a horizontal line. It prints the points as
a Markdown table and a log-log fit of error against data size, extrapolated to the anchor.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path


def load_log(run: Path) -> list[dict]:
    p = Path(run) / "log.jsonl"
    return [json.loads(line) for line in p.read_text().splitlines() if line.strip()] if p.exists() else []


def size_points(runs: dict[str, Path], ev: dict, spp: str = "4", metric: str = "relMSE") -> list[tuple[int, float, str]]:
    """(training scenes, held-out metric, label) for every run that the evaluation included."""
    pts = []
    for label, run in runs.items():
        if label not in ev["spp"][spp]["mean"]:
            continue
        card = json.loads((Path(run) / "model.json").read_text())
        pts.append((card["data"]["train_samples"], ev["spp"][spp]["mean"][label][metric], label))
    return sorted(pts)


def fit_power_law(pts: list[tuple[int, float, str]]) -> tuple[float, float] | None:
    """Least-squares fit of log(error) = a + b log(scenes); None with fewer than two sizes."""
    xs = [math.log(n) for n, _, _ in pts]
    ys = [math.log(v) for _, v, _ in pts]
    if len(set(xs)) < 2:
        return None
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    b = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)
    return my - b * mx, b


def report(runs: dict[str, Path], ev: dict | None, anchor: str = "oidn", out: Path | None = None) -> str:
    lines = []
    if ev:
        pts = size_points(runs, ev)
        a = ev["spp"]["4"]["mean"][anchor]["relMSE"]
        lines += ["| model | training scenes | held-out relMSE (4 spp) |", "|---|---:|---:|"]
        lines += [f"| {label} | {n} | {v:.5f} |" for n, v, label in pts]
        lines.append(f"| {anchor} | - | {a:.5f} |")
        fit = fit_power_law(pts)
        if fit and fit[1] < 0:
            need = math.exp((math.log(a) - fit[0]) / fit[1])
            lines.append(f"\nFit: relMSE ~ {math.exp(fit[0]):.3g} * scenes^{fit[1]:.2f}; "
                         f"reaching {anchor}'s {a:.5f} would take ~{need:,.0f} scenes at this training budget.")
        elif fit:
            lines.append(f"\nFit exponent {fit[1]:.2f} >= 0: more scenes did not help at this training budget.")
    text = "\n".join(lines)
    if out:
        _plot(runs, ev, anchor, Path(out))
    return text


def _plot(runs, ev, anchor, out: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    fig, ax = plt.subplots(1, 2 if ev else 1, figsize=(10 if ev else 5, 3.6), squeeze=False)
    for label, run in runs.items():
        rows = [r for r in load_log(run) if "val_relmse" in r]
        ax[0][0].plot([r["minutes"] for r in rows], [r["val_relmse"] for r in rows], label=label)
    ax[0][0].set(xlabel="training minutes (2 CPU cores)", ylabel="validation relMSE (4 spp)", yscale="log")
    ax[0][0].legend(fontsize=7)
    if ev:
        pts = size_points(runs, ev)
        ax[0][1].plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label="ours (same budget)")
        ax[0][1].axhline(ev["spp"]["4"]["mean"][anchor]["relMSE"], color="k", ls="--", label=anchor)
        ax[0][1].set(xlabel="training scenes", ylabel="held-out relMSE (4 spp)", xscale="log", yscale="log")
        ax[0][1].legend(fontsize=7)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=90)
    plt.close(fig)


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of ``neural-render curves``."""
    p.add_argument("--runs", nargs="+", required=True, metavar="LABEL=DIR", help="training runs, labelled as in --eval")
    p.add_argument("--eval", help="eval.json of an evaluation that included the runs under the same labels")
    p.add_argument("--anchor", default="oidn", help="method drawn as a horizontal line (default oidn)")
    p.add_argument("-o", "--output", default="data/eval/curves.png", help="the plot (default data/eval/curves.png)")



def run_args(a: argparse.Namespace) -> int:
    runs = dict(item.split("=", 1) for item in a.runs)
    ev = json.loads(Path(a.eval).read_text()) if a.eval else None
    print(report({k: Path(v) for k, v in runs.items()}, ev, a.anchor, Path(a.output)))
    print(f"wrote {a.output}")
    return 0
