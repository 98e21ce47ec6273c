"""Render 1 in N's key blend: its section of a model card (:mod:`training.common.card`), with the
held-out shots of ``neural-render eval inbetween`` (``results.json``)."""

from __future__ import annotations

import json
from pathlib import Path

from ..common.card import CardSection, batch_text, table_head

KIND = "inbetween"
ALIASES: tuple[str, ...] = ()
WEIGHTS_PREFIX = "inbetween"
#: The routes of ``eval inbetween`` the card keeps, and its names for them.
ROUTES = {"ours: motion, no re-render": "ours", "ours: motion, linear blend, no re-render": "linear blend",
          "ours: motion, re-rendering unreached tiles": "ours, unreached tiles re-rendered",
          "flow (DIS) of the key frames": "flow (DIS)"}

#: The label prefix of the route that renders every frame at fewer samples (kept as it is named).
LOW_SPP_ROUTE = "every frame at "

#: How a card names the inputs of a model trained with ``--key-aux``.
KEY_AUX_TEXT = " (and each key's own, carried with it)"


def evaluation(eval_json: Path | str, label: str) -> dict:
    """The card's ``evaluation``: per shot and N, PSNR, FLIP and flicker of the routes in :data:`ROUTES`
    (``label`` is unused: the learned route is always ``ours``)."""
    res = json.loads(Path(eval_json).read_text())
    shots = {}
    for shot, per in res.items():
        if shot == "synthesis":
            continue
        shots[shot] = {key[2:]: {ROUTES.get(r, r): {m: row[m] for m in ("PSNR", "FLIP", "flicker")}
                                 for r, row in rows.items() if r in ROUTES or r.startswith(LOW_SPP_ROUTE)}
                       for key, rows in per.items() if key.startswith("N=")}
    return {"source": str(eval_json), "shots": shots, "synthesis": res.get("synthesis", {}), "label_in_eval": "ours"}


def section(name: str, card: dict) -> CardSection:
    cfg, data = card.get("config", {}), card.get("data", {})
    val = card.get("validation", {})
    body = []
    ev = card.get("evaluation") or {}
    if ev.get("shots"):
        body += ["", f"## Held-out evaluation ({len(ev['shots'])} animated shots of `neural-render eval inbetween`, "
                 "never seen in training; against every frame rendered at the keys' spp through OIDN)", "",
                 *table_head("shot", "N", "PSNR", "FLIP", "flicker")]
        for shot, per_n in ev["shots"].items():
            for n, routes in per_n.items():
                for route, r in routes.items():
                    body.append(f"| {route} | {shot} | {n} | {r['PSNR']:.2f} | {r['FLIP']:.4f} | {r['flicker']:.4f} |")
    return CardSection(
        title=f"inbetween `{name}` (Render 1 in N's learned key blend)",
        architecture=f"U-Net, channels {cfg.get('channels')}, on the two key frames carried along the render's "
                     "motion and the frame's own 1-spp data render"
                     f"{KEY_AUX_TEXT if cfg.get('key_aux') else ''}: per-pixel convex weights of the two keys "
                     "(a logit on each linear weight) and a gain on the direct light passes; "
                     f"{card.get('parameters', 0) / 1e3:.0f} k parameters",
        training=f"loss `{card.get('train', {}).get('loss')}`, {batch_text(card)}",
        bullets=[f"data: {data.get('train_frames')} training frames ({data.get('train_shots')}) and "
                 f"{data.get('val_frames')} validation frames ({data.get('val_shots')}) of {data.get('folder')}, "
                 f"render 1 in {data.get('every')}",
                 f"validation PSNR {val.get('val_psnr', float('nan')):.2f} dB "
                 f"(linear blend {val.get('val_psnr_linear', float('nan')):.2f} dB)"],
        body=body,
    )
