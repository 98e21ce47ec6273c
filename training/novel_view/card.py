"""Learned blending's section of a model card (:mod:`training.common.card`). Its weights and
cards keep the shipped name ``ibr_NAME`` (and the title says ``ibr``, as the shipped cards do)."""

from __future__ import annotations

from pathlib import Path

from ..common.card import CardSection, batch_text, data_bullet, pick_evaluation, table_head

KIND = "novel_view"
#: Other names ``ship --kind`` accepts.
ALIASES: tuple[str, ...] = ("novel-view", "ibr")
#: Shipped weights are ``neural_ops/weights/ibr_NAME.*`` (the op's first name, kept for existing files).
WEIGHTS_PREFIX = "ibr"


def evaluation(eval_json: Path | str | list, label: str) -> list[dict]:
    """The card's ``evaluation``: one entry per ``eval novel-view`` result (one per protocol: all
    views, render 1 in N), given as a list or comma separated."""
    paths = eval_json if isinstance(eval_json, list | tuple) else str(eval_json).split(",")
    return [pick_evaluation(p, ("data", "samples", "targets", "every", "mean", "coverage", "seconds"), label)
            for p in paths]


def section(name: str, card: dict) -> CardSection:
    cfg, tr, data = card.get("config", {}), card.get("train", {}), card.get("data", {})
    every = tr.get("every") or 0
    val = card.get("validation", {})
    body = []
    for ev in card.get("evaluation") or []:
        protocol = (f"render 1 in {ev['every']}" if ev.get("every") else "each view from all the others")
        body += ["", f"## Held-out evaluation: {protocol} ({ev['samples']} scenes, {ev['targets']} target views "
                 f"from {ev['data']}; never seen in training)", "",
                 *table_head("PSNR", "SSIM", "FLIP", "seen PSNR", "flicker", "s/frame")]
        for m, v in ev["mean"].items():
            body.append(f"| {m} | {v['PSNR']:.2f} | {v['SSIM']:.4f} | {v['FLIP']:.4f} | {v['seen PSNR']:.2f} | "
                        f"{v.get('flicker', float('nan')):.4f} | {ev['seconds'].get(m, float('nan')):.3f} |")
    return CardSection(
        title=f"ibr `{name}` (learned blending for novel views)",
        architecture=f"U-Net shared across the {cfg.get('k')} best source views per pixel (ranked by the "
                     f"unstructured-lumigraph penalty), channels {cfg.get('channels')}, masked-softmax blend weights "
                     f"and a hole-filling residual; glossy split (EffectsNet) {cfg.get('split')}; "
                     f"{card.get('parameters', 0) / 1e3:.0f} k parameters",
        training=f"loss `{tr.get('loss')}`, {batch_text(card)}, target geometry "
                 f"`{tr.get('depth')}`, "
                 + (f"sources: render 1 in {every} (the {tr.get('per_side')} nearest rendered views on each side)"
                    if every else "sources: all the scene's other views"),
        bullets=[data_bullet(card, "camera moves", f", {data.get('ref_spp')} spp"),
                 f"validation PSNR {val.get('val_psnr', float('nan')):.2f} dB "
                 f"(ULR {val.get('val_psnr_ulr', float('nan')):.2f} dB)"],
        body=body,
    )
