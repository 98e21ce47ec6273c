"""The eval.md / eval.json / grid writer every evaluator shares."""

import json
import struct

import numpy as np

from training.common.report import eval_markdown, write_eval, write_grid, zoom


def _png_size(path) -> tuple[int, int]:
    """(height, width) from a PNG's header."""
    w, h = struct.unpack(">II", path.read_bytes()[16:24])
    return h, w


def test_markdown_layout():
    flat = eval_markdown("Relighting evaluation", "2 scenes.", [(None, "| m |\n|---|")])
    assert flat == "# Relighting evaluation\n\n2 scenes.\n\n| m |\n|---|\n"
    sections = eval_markdown("Denoiser evaluation", "4 samples.", [("1 spp", "| a |"), ("4 spp", "| b |")])
    assert sections == "# Denoiser evaluation\n\n4 samples.\n\n## 1 spp\n\n| a |\n\n## 4 spp\n\n| b |\n"


def test_write_eval_and_grid(tmp_path):
    out = write_eval(tmp_path / "ev", {"mean": {"ours": {"PSNR": 30.0}}}, "Demo evaluation", "One.", [(None, "| t |")])
    assert json.loads((out / "eval.json").read_text()) == {"mean": {"ours": {"PSNR": 30.0}}}
    assert (out / "eval.md").read_text().startswith("# Demo evaluation\n\nOne.\n")
    rows = [[np.full((8, 10, 3), v, np.float32) for v in (0.1, 0.5, 1.0)] for _ in range(2)]
    plain = _png_size(write_grid(out / "grid.png", rows, ["a", "b", "c"]))
    zoomed = _png_size(write_grid(out / "sub" / "zoom.png", rows, ["a", "b", "c"], zoomed=True))
    assert plain[1] == zoomed[1] and zoomed[0] > plain[0]
    z = zoom(np.arange(64, dtype=np.float32).reshape(8, 8, 1), 8)
    assert z.shape == (8, 8, 1) and z[0, 0, 0] == z[1, 1, 0] == 18  # the centre quarter, doubled
