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
    if eval_json and kind == "relight":
        ev = json.loads(Path(eval_json).read_text())
        card["evaluation"] = {k: ev.get(k) for k in ("data", "samples", "dataset_seed", "ref_spp", "resolution", "mean",
                                                      "seconds", "cycles_ref_seconds", "cycles_cheap_seconds")}
        card["evaluation"]["label_in_eval"] = label
    elif eval_json and kind == "cg2real":
        ev = json.loads(Path(eval_json).read_text())
        card["evaluation"] = {k: ev.get(k) for k in ("data", "samples", "dataset_seed", "ref_spp", "resolution",
                                                      "eevee_timing", "mean", "timing")}
        card["evaluation"]["label_in_eval"] = label
    elif eval_json and kind == "ibr":
        card["evaluation"] = []
        for path in str(eval_json).split(","):  # one evaluation per protocol (all views, render 1 in N)
            ev = json.loads(Path(path).read_text())
            card["evaluation"].append({k: ev.get(k) for k in ("data", "samples", "targets", "every", "mean",
                                                               "coverage", "seconds")})
            card["evaluation"][-1]["label_in_eval"] = label
    elif eval_json:
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


def render_cg2real_card(name: str, card: dict) -> str:
    cfg, tr, data = card.get("config", {}), card.get("train", {}), card.get("data", {})
    if card.get("kind") == "cg2real-albedo":
        lines = [f"# Model card: cg2real `{name}` (unpaired albedo stage)", "",
                 f"- architecture: residual CNN on reflectance logits, {cfg.get('channels')} channels, {cfg.get('blocks')} blocks",
                 f"- trained with: `{card.get('command', '')}`",
                 f"- training: {tr.get('steps')} steps, {tr.get('minutes')} min on {tr.get('machine')}; CycleGAN "
                 f"(hinge PatchGANs with spectral norm), cycle {tr.get('cycle')}, identity {tr.get('identity')}",
                 f"- data: {data.get('rendered_images')} rendered albedo images from {data.get('rendered')}, "
                 f"{data.get('photo_images')} photographs from {data.get('photos')}",
                 f"- realism (FID-infinity against the photographs): {card.get('realism', {}).get('note') or card.get('realism')}"]
        return "\n".join(lines + ["", card.get("notes", "")]) + "\n"
    lines = [
        f"# Model card: cg2real `{name}`", "",
        f"- architecture: U-Net generator, channels {cfg.get('channels')}, normalisation `{cfg.get('norm')}`, "
        f"shading x albedo split {cfg.get('factor')}; {card.get('parameters', 0) / 1e6:.2f} M parameters",
        f"- trained with: `{card.get('command', '')}`",
        f"- training: {tr.get('steps')} steps, {tr.get('minutes')} min on {tr.get('machine')}; loss `{tr.get('loss')}`, "
        f"adversarial `{tr.get('gan')}` (weight {tr.get('adv_weight')}, feature matching {tr.get('fm_weight')}), "
        f"batch {tr.get('batch')} crops of {tr.get('crop')} px",
        f"- data: {data.get('train_samples')} training + {data.get('val_samples')} validation scenes from dataset seed "
        f"{data.get('dataset_seed')} ({data.get('resolution')} px); target {tr.get('target')} at {data.get('ref_spp')} spp",
        f"- validation PSNR {card.get('validation', {}).get('val_psnr', float('nan')):.2f} dB",
    ]
    ev = card.get("evaluation")
    if ev:
        lines += ["", f"## Held-out evaluation ({ev['samples']} scenes, dataset seed {ev['dataset_seed']}, reference "
                  f"Cycles {ev['ref_spp']} spp + OIDN; never seen in training)", "",
                  "| method | PSNR | SSIM | FLIP |", "|---|---:|---:|---:|"]
        for m, v in ev["mean"].items():
            lines.append(f"| {m} | {v['PSNR']:.2f} | {v['SSIM']:.4f} | {v['FLIP']:.4f} |")
        t = (ev.get("timing") or {}).get(ev.get("label_in_eval"))
        if t:
            lines += ["", f"Per frame at {ev['resolution'][0]}x{ev['resolution'][1]}: EEVEE {t['eevee_s']:.2f} s "
                      f"({ev.get('eevee_timing')}) + network {t['net_s']:.2f} s, against Cycles {t['cycles_s']:.1f} s: "
                      f"{t['speedup']:.1f}x faster."]
    if card.get("notes"):
        lines += ["", "## Notes", "", card["notes"]]
    return "\n".join(lines) + "\n"


def render_relight_card(name: str, card: dict) -> str:
    cfg, tr, data = card.get("config", {}), card.get("train", {}), card.get("data", {})
    lines = [
        f"# Model card: relight `{name}`", "",
        f"- architecture: U-Net over analytic shading + G-buffer (+ the source frame), channels {cfg.get('channels')}, "
        f"lighting conditioning `{cfg.get('condition')}`; {card.get('parameters', 0) / 1e6:.2f} M parameters",
        f"- trained with: `{card.get('command', '')}`",
        f"- training: {tr.get('steps')} steps, {tr.get('minutes')} min on {tr.get('machine')}; loss `{tr.get('loss')}`, "
        f"batch {tr.get('batch')} crops of {tr.get('crop')} px, source dropout {tr.get('source_dropout')}",
        f"- data: {data.get('train_samples')} training + {data.get('val_samples')} validation scenes from dataset seed "
        f"{data.get('dataset_seed')} ({data.get('resolution')} px), each under several lightings; targets "
        f"{tr.get('target')} at {data.get('ref_spp')} spp",
        f"- validation PSNR {card.get('validation', {}).get('val_psnr', float('nan')):.2f} dB",
    ]
    ev = card.get("evaluation")
    if ev:
        lines += ["", f"## Held-out evaluation ({ev['samples']} scenes, dataset seed {ev['dataset_seed']}, reference "
                  f"Cycles {ev['ref_spp']} spp + OIDN; never seen in training)", "",
                  "| method | PSNR | SSIM | FLIP | shadow PSNR | s/frame |", "|---|---:|---:|---:|---:|---:|"]
        for m, v in ev["mean"].items():
            lines.append(f"| {m} | {v['PSNR']:.2f} | {v['SSIM']:.4f} | {v['FLIP']:.4f} | {v['shadow PSNR']:.2f} | "
                         f"{ev['seconds'].get(m, float('nan')):.3f} |")
    if card.get("notes"):
        lines += ["", "## Notes", "", card["notes"]]
    return "\n".join(lines) + "\n"


def render_ibr_card(name: str, card: dict) -> str:
    cfg, tr, data = card.get("config", {}), card.get("train", {}), card.get("data", {})
    every = tr.get("every") or 0
    lines = [
        f"# Model card: ibr `{name}` (learned blending for novel views)", "",
        f"- architecture: U-Net shared across the {cfg.get('k')} best source views per pixel (ranked by the "
        f"unstructured-lumigraph penalty), channels {cfg.get('channels')}, masked-softmax blend weights and a "
        f"hole-filling residual; glossy split (EffectsNet) {cfg.get('split')}; "
        f"{card.get('parameters', 0) / 1e3:.0f} k parameters",
        f"- trained with: `{card.get('command', '')}`",
        f"- training: {tr.get('steps')} steps, {tr.get('minutes')} min on {tr.get('machine')}; loss `{tr.get('loss')}`, "
        f"batch {tr.get('batch')} crops of {tr.get('crop')} px, target geometry `{tr.get('depth')}`, "
        + (f"sources: render 1 in {every} (the {tr.get('per_side')} nearest rendered views on each side)"
           if every else "sources: all the scene's other views"),
        f"- data: {data.get('train_samples')} training + {data.get('val_samples')} validation camera moves from "
        f"dataset seed {data.get('dataset_seed')} ({data.get('resolution')} px, {data.get('ref_spp')} spp)",
        f"- validation PSNR {card.get('validation', {}).get('val_psnr', float('nan')):.2f} dB "
        f"(ULR {card.get('validation', {}).get('val_psnr_ulr', float('nan')):.2f} dB)",
    ]
    for ev in card.get("evaluation") or []:
        protocol = (f"render 1 in {ev['every']}" if ev.get("every") else "each view from all the others")
        lines += ["", f"## Held-out evaluation: {protocol} ({ev['samples']} scenes, {ev['targets']} target views "
                  f"from {ev['data']}; never seen in training)", "",
                  "| method | PSNR | SSIM | FLIP | seen PSNR | flicker | s/frame |", "|---|---:|---:|---:|---:|---:|---:|"]
        for m, v in ev["mean"].items():
            lines.append(f"| {m} | {v['PSNR']:.2f} | {v['SSIM']:.4f} | {v['FLIP']:.4f} | {v['seen PSNR']:.2f} | "
                         f"{v.get('flicker', float('nan')):.4f} | {ev['seconds'].get(m, float('nan')):.3f} |")
    if card.get("notes"):
        lines += ["", "## Notes", "", card["notes"]]
    return "\n".join(lines) + "\n"


def render_card(kind: str, name: str, card: dict) -> str:
    if kind == "ibr":
        return render_ibr_card(name, card)
    if kind == "cg2real":
        return render_cg2real_card(name, card)
    if kind == "relight":
        return render_relight_card(name, card)
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
    p.add_argument("--eval", help="eval.json of a held-out evaluation that included this model (ibr: several, "
                   "comma separated)")
    p.add_argument("--label", default="ours", help="the model's label in that evaluation")
    p.add_argument("--notes", default="")
    a = p.parse_args(argv)
    print(ship(Path(a.run), a.kind, a.name, Path(a.eval) if a.eval else None, a.label, a.notes))


if __name__ == "__main__":
    main()
