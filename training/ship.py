"""Ship a trained model: copy its weights into ``neural_ops/weights`` with a model card.

``python -m training.ship RUN_DIR --kind denoise --name unet --eval EVAL_DIR/eval.json``
copies ``RUN_DIR/model.safetensors``, merges the held-out evaluation (mean metrics per spp and
seconds per megapixel, for this model and the baselines of the same run) into the JSON card,
and writes a human-readable ``KIND_NAME.md`` beside it.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

from neural_ops.nn.weights import WEIGHTS_DIR


def ship(run: Path, kind: str, name: str, eval_json: Path | None = None, label: str = "ours",
         notes: str = "", dest: Path = WEIGHTS_DIR) -> Path:
    run = Path(run)
    card = json.loads((run / "model.json").read_text())
    if eval_json:
        ev = json.loads(Path(eval_json).read_text())
        card["evaluation"] = {
            "data": ev["data"], "samples": ev["samples"], "dataset_seed": ev.get("dataset_seed"),
            "ref_spp": ev.get("ref_spp"), "label_in_eval": label,
            "spp": {spp: {"mean": r["mean"], "s_per_mp": r["s_per_mp"]} for spp, r in ev["spp"].items()},
        }
    if notes:
        card["notes"] = notes
    dest.mkdir(parents=True, exist_ok=True)
    w = dest / f"{kind}_{name}.safetensors"
    shutil.copyfile(run / "model.safetensors", w)
    (dest / f"{kind}_{name}.json").write_text(json.dumps(card, indent=1) + "\n")
    (dest / f"{kind}_{name}.md").write_text(render_card(kind, name, card))
    return w


def render_card(kind: str, name: str, card: dict) -> str:
    cfg, tr, data = card.get("config", {}), card.get("train", {}), card.get("data", {})
    lines = [
        f"# Model card: {kind} `{name}`", "",
        f"- architecture: {cfg.get('head')} head, base `{cfg.get('base')}`, U-Net channels {cfg.get('channels')}, "
        f"{card.get('parameters', 0) / 1e6:.2f} M parameters",
        f"- trained with: `{card.get('command', '')}`",
        f"- training: {tr.get('steps')} steps, {tr.get('minutes')} min on {tr.get('machine')}; loss `{tr.get('loss')}`, "
        f"batch {tr.get('batch')} crops of {tr.get('crop')} px, input spp {tr.get('spp')}, init {tr.get('init')}",
        f"- data: {data.get('train_samples')} training + {data.get('val_samples')} validation scenes from dataset seed "
        f"{data.get('dataset_seed')} ({data.get('resolution')} px, targets {data.get('ref_spp')} spp)",
        f"- validation (4 spp): relMSE {card.get('validation', {}).get('val_relmse', float('nan')):.5f}, "
        f"PSNR {card.get('validation', {}).get('val_psnr', float('nan')):.2f} dB",
    ]
    ev = card.get("evaluation")
    if ev:
        lines += ["", f"## Held-out evaluation ({ev['samples']} scenes, dataset seed {ev['dataset_seed']}, "
                  f"reference {ev['ref_spp']} spp; never seen in training)", ""]
        for spp, r in ev["spp"].items():
            lines += [f"### {spp} spp", "", "| method | relMSE | PSNR | SSIM | FLIP | s/MP |", "|---|---:|---:|---:|---:|---:|"]
            for m, v in r["mean"].items():
                lines.append(f"| {m} | {v['relMSE']:.5f} | {v['PSNR']:.2f} | {v['SSIM']:.4f} | {v['FLIP']:.4f} | "
                             f"{r['s_per_mp'].get(m, 0):.2f} |")
            lines.append("")
    if card.get("notes"):
        lines += ["", "## Notes", "", card["notes"]]
    return "\n".join(lines) + "\n"


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("run", help="training run folder (with model.safetensors and model.json)")
    p.add_argument("--kind", default="denoise")
    p.add_argument("--name", required=True)
    p.add_argument("--eval", help="eval.json of a held-out evaluation that included this model")
    p.add_argument("--label", default="ours", help="the model's label in that evaluation")
    p.add_argument("--notes", default="")
    a = p.parse_args(argv)
    print(ship(Path(a.run), a.kind, a.name, Path(a.eval) if a.eval else None, a.label, a.notes))


if __name__ == "__main__":
    main()
