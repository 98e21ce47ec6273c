"""The denoiser's section of a model card (:mod:`training.common.card`)."""

from __future__ import annotations

from pathlib import Path

from ..common.card import CardSection, batch_text, data_bullet, pick_evaluation, table_head

KIND = "denoise"
#: Other names ``ship --kind`` accepts.
ALIASES: tuple[str, ...] = ()
#: Shipped weights are ``neural_ops/weights/denoise_NAME.*``.
WEIGHTS_PREFIX = "denoise"


def evaluation(eval_json: Path | str, label: str) -> dict:
    """The card's ``evaluation`` from an ``eval denoise`` result: per spp, the mean metrics and
    seconds per megapixel of every method of that run (the shipped model is ``label``)."""
    import json

    from .eval import per_scene_tables

    ev = pick_evaluation(eval_json, ("data", "samples", "dataset_seed", "ref_spp"), label)
    res = json.loads(Path(eval_json).read_text())
    spp = res["spp"]
    ev["spp"] = {s: {"mean": r["mean"], "s_per_mp": r["s_per_mp"]} for s, r in spp.items()}
    ps4 = spp.get("4", {}).get("per_sample", {})
    if all("energy" in v for v in ps4.values()) and "noisy" in ps4:
        methods = list(next(iter(spp.values()))["mean"])
        ev["tables"] = [[title, md] for title, md in per_scene_tables(res, methods)]
    return ev


def section(name: str, card: dict) -> CardSection:
    cfg, tr, data = card.get("config", {}), card.get("train", {}), card.get("data", {})
    val = card.get("validation", {})
    body = []
    ev = card.get("evaluation")
    if ev:
        body += ["", f"## Held-out evaluation ({ev['samples']} scenes, dataset seed {ev['dataset_seed']}, "
                 f"reference {ev['ref_spp']} spp; never seen in training)", ""]
        for spp, r in ev["spp"].items():
            body += [f"### {spp} spp", "", *table_head("relMSE", "PSNR", "SSIM", "FLIP", "s/MP")]
            for m, v in r["mean"].items():
                body.append(f"| {m} | {v['relMSE']:.5f} | {v['PSNR']:.2f} | {v['SSIM']:.4f} | {v['FLIP']:.4f} | "
                            f"{r['s_per_mp'].get(m, 0):.2f} |")
            body.append("")
        for title, md in ev.get("tables", []):
            body += [f"### {title}", "", md, ""]
    return CardSection(
        title=f"denoise `{name}`",
        architecture=f"{cfg.get('head')} head, base `{cfg.get('base')}`, U-Net channels {cfg.get('channels')}, "
                     f"{card.get('parameters', 0) / 1e6:.2f} M parameters",
        training=f"loss `{tr.get('loss')}`, {batch_text(card)}, input spp "
                 f"{tr.get('spp')}, init {tr.get('init')}",
        bullets=[data_bullet(card, detail=f", targets {data.get('ref_spp')} spp"),
                 f"validation (4 spp): relMSE {val.get('val_relmse', float('nan')):.5f}, "
                 f"PSNR {val.get('val_psnr', float('nan')):.2f} dB"],
        body=body,
    )
