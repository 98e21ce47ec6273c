"""Learned blending end to end on real (tiny) Cycles camera moves: the multiview ``--arc`` data,
``train ibr`` (resume) and ``eval ibr`` through the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest

bpy = pytest.importorskip("bpy")
pytest.importorskip("torch")

from neural_ops.cli import main  # noqa: E402
from neural_ops.ibr import backward_warp, load_views  # noqa: E402
from training import datagen  # noqa: E402


@pytest.fixture(scope="module")
def moves(tmp_path_factory):
    """Two procedural scenes, 5 views each along a 40-degree camera move, 48x48, 8 spp."""
    out = tmp_path_factory.mktemp("ibr_moves")
    assert main(["data", "multiview", "--scenes", "2", "--seed", "31", "--resolution", "48", "--ref-spp", "8",
                 "--views", "5", "--arc", "40", "-o", str(out)]) == 0
    return out


def test_arc_views_form_an_ordered_move_whose_neighbours_overlap(moves):
    views = load_views(datagen.sample_dir(moves, 0))
    centres = np.array([c.center for c, _, _ in views])
    steps = np.linalg.norm(np.diff(centres, axis=0), axis=1)
    assert np.allclose(steps, steps.mean(), rtol=0.2)  # evenly spaced along the arc
    assert np.linalg.norm(centres[-1] - centres[0]) > 3 * steps.mean()  # in order, not shuffled
    (c0, _, d0), (c1, col1, d1) = views[0], views[1]
    seen = backward_warp(c0, d0, c1, col1, d1).valid
    assert seen.sum() > 0.5 * (d0 > 0).sum(), "neighbouring views of a move should overlap"


def test_train_ibr_resumes_and_eval_compares_with_ulr(moves, tmp_path, capsys):
    run = tmp_path / "run"
    args = ["train", "ibr", "--data", str(moves), "-o", str(run), "--steps", "6", "--batch", "2", "--crop", "32",
            "--val-count", "1", "--split"]
    assert main(args) == 0
    card = json.loads((run / "model.json").read_text())
    assert card["kind"] == "ibr" and card["config"]["split"] is True and card["train"]["steps"] == 6
    args[args.index("6")] = "8"
    assert main(args) == 0
    assert "resumed at step 6" in capsys.readouterr().out
    out = tmp_path / "eval"
    assert main(["eval", "ibr", "--data", str(moves), "--model", f"tiny={run / 'model.safetensors'}",
                 "-o", str(out), "--max-samples", "1"]) == 0
    text = capsys.readouterr().out
    assert "ULR (" in text and "tiny (" in text
    res = json.loads((out / "eval.json").read_text())
    assert res["targets"] == 5 and any(r.startswith("tiny") for r in res["mean"])
    assert (out / "grid.png").stat().st_size > 1000
    # A bad --model spec: one clear line and exit status 2.
    assert main(["eval", "ibr", "--data", str(moves), "--model", "nolabel"]) == 2
    assert "LABEL=NAME|PATH" in capsys.readouterr().err
