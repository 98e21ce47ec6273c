"""Model cards: the shared skeleton, each op's section, and shipping a run folder."""

import json
from pathlib import Path

import pytest

from neural_ops.core.errors import NeuralRenderError
from neural_ops.nn.weights import WEIGHTS_DIR
from training.common.card import CardSection, render_card
from training.ship import card_module, render_kind, ship

TRAIN = {"steps": 100, "minutes": 1.5, "machine": "2 CPU cores, torch 2", "loss": "l1", "batch": 4, "crop": 64}
DATA = {"train_samples": 10, "val_samples": 2, "dataset_seed": 3, "resolution": 64, "ref_spp": 256}
ROW = {"PSNR": 30.0, "SSIM": 0.9, "FLIP": 0.1, "relMSE": 0.01, "shadow PSNR": 25.0, "seen PSNR": 31.0}

CARDS_BY_KIND = {
    "denoise": {"kind": "denoise", "config": {"head": "kpcn", "base": "noisy", "channels": [8, 16]}, "parameters": 1e5,
                "train": TRAIN, "data": DATA, "validation": {"val_relmse": 0.02, "val_psnr": 31.0},
                "evaluation": {"samples": 4, "dataset_seed": 9, "ref_spp": 512,
                               "spp": {"4": {"mean": {"ours": ROW}, "s_per_mp": {"ours": 0.5}}}}},
    "cg2real": {"kind": "cg2real", "config": {"channels": [8], "norm": "none", "factor": True}, "parameters": 2e5,
                "train": {**TRAIN, "gan": "none"}, "data": DATA, "validation": {"val_psnr": 22.0},
                "evaluation": {"samples": 4, "dataset_seed": 9, "ref_spp": 512, "resolution": [64, 64],
                               "mean": {"ours": ROW}, "label_in_eval": "ours",
                               "timing": {"ours": {"eevee_s": 0.1, "net_s": 0.2, "cycles_s": 9.0, "speedup": 30.0}}}},
    "relight": {"kind": "relight", "config": {"channels": [8], "condition": "film"}, "parameters": 3e5,
                "train": TRAIN, "data": DATA, "validation": {"val_psnr": 27.0},
                "evaluation": {"samples": 4, "dataset_seed": 9, "ref_spp": 512, "mean": {"ours": ROW},
                               "seconds": {"ours": 0.3}}},
    "ibr": {"kind": "ibr", "config": {"k": 4, "channels": [8], "split": False}, "parameters": 4e4,
            "train": {**TRAIN, "every": 4, "per_side": 2}, "data": DATA,
            "validation": {"val_psnr": 28.0, "val_psnr_ulr": 26.0},
            "evaluation": [{"samples": 4, "targets": 12, "data": "held", "every": 4, "mean": {"ours": ROW},
                            "seconds": {"ours": 0.3}}]},
    "inbetween": {"kind": "inbetween", "config": {"channels": [8, 16]}, "parameters": 5e4, "train": TRAIN,
                  "data": {"train_frames": 40, "val_frames": 8, "every": [2, 4]},
                  "validation": {"val_psnr": 30.0, "val_psnr_linear": 29.0},
                  "evaluation": {"shots": {"objects": {"4": {"ours": {**ROW, "flicker": 0.01}}}}}},
}


def test_skeleton_order_and_notes():
    s = CardSection("demo `x`", "arch", "loss `l1`", ["data: d", "validation v"], ["", "## Held-out", "table"])
    md = render_card(s, {"command": "neural-render train demo", "train": TRAIN, "notes": "be careful"})
    assert md.splitlines() == [
        "# Model card: demo `x`", "", "- architecture: arch", "- trained with: `neural-render train demo`",
        "- training: 100 steps, 1.5 min on 2 CPU cores, torch 2; loss `l1`", "- data: d", "- validation v",
        "", "## Held-out", "table", "", "## Notes", "", "be careful"]


@pytest.mark.parametrize("kind", list(CARDS_BY_KIND))
def test_each_ops_section(kind):
    md = render_kind(kind, "tiny", CARDS_BY_KIND[kind])
    assert md.startswith(f"# Model card: {kind} `tiny`") and "- trained with: ``" in md
    assert "100 steps, 1.5 min on 2 CPU cores" in md and "Held-out evaluation" in md and "| ours | " in md and " 30.00 |" in md
    assert "## Notes" not in md and "## Notes" in render_kind(kind, "tiny", {**CARDS_BY_KIND[kind], "notes": "n"})


def test_the_albedo_stage_and_unknown_kinds():
    md = render_kind("cg2real", "albedo", {"kind": "cg2real-albedo", "config": {"channels": 16, "blocks": 2},
                                            "train": TRAIN, "realism": {"note": "not available"}})
    assert "(unpaired albedo stage)" in md and "- realism (FID-infinity against the photographs): not available" in md
    assert card_module("novel-view") is card_module("ibr") is card_module("novel_view")
    assert card_module("novel_view").WEIGHTS_PREFIX == "ibr"
    with pytest.raises(NeuralRenderError, match="unknown kind 'photoreal'"):
        card_module("photoreal")


def test_shipped_cards_render_from_their_json():
    """Every Markdown card in the weights folder is what its JSON renders to: one renderer."""
    for path in sorted(WEIGHTS_DIR.glob("*.json")):
        kind, name = path.stem.split("_", 1)
        assert render_kind(kind, name, json.loads(path.read_text())) == path.with_suffix(".md").read_text(), path.name


def _run(tmp_path: Path, card: dict) -> Path:
    run = tmp_path / "run"
    run.mkdir()
    (run / "model.json").write_text(json.dumps(card))
    (run / "model.safetensors").write_bytes(b"weights")
    return run


def test_ship_copies_weights_and_merges_the_evaluation(tmp_path):
    card = {k: v for k, v in CARDS_BY_KIND["ibr"].items() if k != "evaluation"}
    evals = []
    for every in (0, 4):
        p = tmp_path / f"eval{every}.json"
        p.write_text(json.dumps({"data": "held", "samples": 2, "targets": 6, "every": every, "mean": {"mine": ROW},
                                 "coverage": {}, "seconds": {"mine": 0.2}, "per_target": {}}))
        evals.append(str(p))
    w = ship(_run(tmp_path, card), "novel_view", "tiny", ",".join(evals), label="mine", notes="hi", dest=tmp_path / "w",
             onnx=False)  # stand-in weights: no graph to export
    assert w == tmp_path / "w" / "ibr_tiny.safetensors" and w.read_bytes() == b"weights"
    shipped = json.loads((tmp_path / "w" / "ibr_tiny.json").read_text())
    assert [e["every"] for e in shipped["evaluation"]] == [0, 4] and shipped["evaluation"][0]["label_in_eval"] == "mine"
    assert "per_target" not in shipped["evaluation"][0] and shipped["notes"] == "hi"
    md = (tmp_path / "w" / "ibr_tiny.md").read_text()
    assert "render 1 in 4" in md and "## Notes" in md


def test_ship_denoise_evaluation(tmp_path):
    card = {k: v for k, v in CARDS_BY_KIND["denoise"].items() if k != "evaluation"}
    ev = tmp_path / "eval.json"
    ev.write_text(json.dumps({"data": "d", "samples": 3, "dataset_seed": 5, "ref_spp": 64,
                              "spp": {"4": {"mean": {"ours": ROW}, "s_per_mp": {"ours": 1.0}, "per_sample": {}}}}))
    ship(_run(tmp_path, card), name="tiny", eval_json=ev, dest=tmp_path / "w", onnx=False)
    shipped = json.loads((tmp_path / "w" / "denoise_tiny.json").read_text())
    assert shipped["evaluation"] == {"data": "d", "samples": 3, "dataset_seed": 5, "ref_spp": 64,
                                     "label_in_eval": "ours",
                                     "spp": {"4": {"mean": {"ours": ROW}, "s_per_mp": {"ours": 1.0}}}}
    with pytest.raises(NeuralRenderError, match="no exported model"):
        ship(tmp_path / "nothing", name="x", dest=tmp_path / "w")


def test_the_inbetween_card_reads_eval_inbetween_results(tmp_path):
    row = {"PSNR": 31.0, "FLIP": 0.06, "flicker": 0.008, "seconds": 9.0}
    res = {"objects": {"every frame": {"seconds": 30.0},
                       "N=4": {"ours: motion, no re-render": row, "flow (DIS) of the key frames": row,
                               "ours: motion, --max-flip 0.05": row}},
           "synthesis": {"later frames": 1.5}}
    (tmp_path / "results.json").write_text(json.dumps(res))
    ev = card_module("inbetween").evaluation(tmp_path / "results.json", "ours")
    assert ev["shots"] == {"objects": {"4": {"ours": {"PSNR": 31.0, "FLIP": 0.06, "flicker": 0.008},
                                             "flow (DIS)": {"PSNR": 31.0, "FLIP": 0.06, "flicker": 0.008}}}}
    md = render_kind("inbetween", "default", {**CARDS_BY_KIND["inbetween"], "evaluation": ev})
    assert "| flow (DIS) | objects | 4 | 31.00 | 0.0600 | 0.0080 |" in md
