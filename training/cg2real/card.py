"""CG2Real's section of a model card (:mod:`training.common.card`): the paired generator, or the
unpaired albedo stage (card kind ``cg2real-albedo``)."""

from __future__ import annotations

from pathlib import Path

from ..common.card import CardSection, batch_text, data_bullet, pick_evaluation, table_head

KIND = "cg2real"
#: Other names ``ship --kind`` accepts.
ALIASES: tuple[str, ...] = ()
#: Shipped weights are ``neural_ops/weights/cg2real_NAME.*`` (the albedo stage: ``cg2real_albedo``).
WEIGHTS_PREFIX = "cg2real"


def evaluation(eval_json: Path | str, label: str) -> dict:
    """The card's ``evaluation`` from an ``eval cg2real`` result (the shipped model is ``label``)."""
    return pick_evaluation(eval_json, ("data", "samples", "dataset_seed", "ref_spp", "resolution", "eevee_timing",
                                       "mean", "timing"), label)


def section(name: str, card: dict) -> CardSection:
    if card.get("kind") == "cg2real-albedo":
        return _albedo_section(name, card)
    cfg, tr, data = card.get("config", {}), card.get("train", {}), card.get("data", {})
    body = []
    ev = card.get("evaluation")
    if ev:
        body += ["", f"## Held-out evaluation ({ev['samples']} scenes, dataset seed {ev['dataset_seed']}, reference "
                 f"Cycles {ev['ref_spp']} spp + OIDN; never seen in training)", "",
                 *table_head("PSNR", "SSIM", "FLIP")]
        for m, v in ev["mean"].items():
            body.append(f"| {m} | {v['PSNR']:.2f} | {v['SSIM']:.4f} | {v['FLIP']:.4f} |")
        t = (ev.get("timing") or {}).get(ev.get("label_in_eval"))
        if t:
            body += ["", f"Per frame at {ev['resolution'][0]}x{ev['resolution'][1]}: EEVEE {t['eevee_s']:.2f} s "
                     f"({ev.get('eevee_timing')}) + network {t['net_s']:.2f} s, against Cycles {t['cycles_s']:.1f} s: "
                     f"{t['speedup']:.1f}x faster."]
    return CardSection(
        title=f"cg2real `{name}`",
        architecture=f"U-Net generator, channels {cfg.get('channels')}, normalisation `{cfg.get('norm')}`, "
                     f"shading x albedo split {cfg.get('factor')}; {card.get('parameters', 0) / 1e6:.2f} M parameters",
        training=f"loss `{tr.get('loss')}`, adversarial `{tr.get('gan')}` (weight {tr.get('adv_weight')}, feature "
                 f"matching {tr.get('fm_weight')}), {batch_text(card)}",
        bullets=[data_bullet(card) + f"; target {tr.get('target')} at {data.get('ref_spp')} spp",
                 f"validation PSNR {card.get('validation', {}).get('val_psnr', float('nan')):.2f} dB"],
        body=body,
    )


def _albedo_section(name: str, card: dict) -> CardSection:
    cfg, tr, data = card.get("config", {}), card.get("train", {}), card.get("data", {})
    return CardSection(
        title=f"cg2real `{name}` (unpaired albedo stage)",
        architecture=f"residual CNN on reflectance logits, {cfg.get('channels')} channels, {cfg.get('blocks')} blocks",
        training=f"CycleGAN (hinge PatchGANs with spectral norm), cycle {tr.get('cycle')}, identity {tr.get('identity')}",
        bullets=[f"data: {data.get('rendered_images')} rendered albedo images from {data.get('rendered')}, "
                 f"{data.get('photo_images')} photographs from {data.get('photos')}",
                 "realism (FID-infinity against the photographs): "
                 f"{card.get('realism', {}).get('note') or card.get('realism')}"],
    )
