"""Relighting's section of a model card (:mod:`training.common.card`)."""

from __future__ import annotations

from pathlib import Path

from ..common.card import CardSection, batch_text, data_bullet, pick_evaluation, table_head

KIND = "relight"
#: Other names ``ship --kind`` accepts.
ALIASES: tuple[str, ...] = ()
#: Shipped weights are ``neural_ops/weights/relight_NAME.*``.
WEIGHTS_PREFIX = "relight"


def evaluation(eval_json: Path | str, label: str) -> dict:
    """The card's ``evaluation`` from an ``eval relight`` result (the shipped model is ``label``)."""
    return pick_evaluation(eval_json, ("data", "samples", "dataset_seed", "ref_spp", "resolution", "mean", "seconds",
                                       "cycles_ref_seconds", "cycles_cheap_seconds"), label)


def section(name: str, card: dict) -> CardSection:
    cfg, tr, data = card.get("config", {}), card.get("train", {}), card.get("data", {})
    body = []
    ev = card.get("evaluation")
    if ev:
        body += ["", f"## Held-out evaluation ({ev['samples']} scenes, dataset seed {ev['dataset_seed']}, reference "
                 f"Cycles {ev['ref_spp']} spp + OIDN; never seen in training)", "",
                 *table_head("PSNR", "SSIM", "FLIP", "shadow PSNR", "s/frame")]
        for m, v in ev["mean"].items():
            body.append(f"| {m} | {v['PSNR']:.2f} | {v['SSIM']:.4f} | {v['FLIP']:.4f} | {v['shadow PSNR']:.2f} | "
                        f"{ev['seconds'].get(m, float('nan')):.3f} |")
    return CardSection(
        title=f"relight `{name}`",
        architecture=f"U-Net over analytic shading + G-buffer (+ the source frame), channels {cfg.get('channels')}, "
                     f"lighting conditioning `{cfg.get('condition')}`; {card.get('parameters', 0) / 1e6:.2f} M parameters",
        training=f"loss `{tr.get('loss')}`, {batch_text(card)}, source dropout "
                 f"{tr.get('source_dropout')}",
        bullets=[data_bullet(card) + f", each under several lightings; targets {tr.get('target')} at "
                 f"{data.get('ref_spp')} spp",
                 f"validation PSNR {card.get('validation', {}).get('val_psnr', float('nan')):.2f} dB"],
        body=body,
    )
