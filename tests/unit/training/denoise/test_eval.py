"""The denoiser evaluation's per-scene tables and equal-quality speed-up."""

import pytest

pytest.importorskip("torch")

from training.denoise.eval import equal_quality_speedup, per_scene_tables  # noqa: E402


def test_equal_quality_speedup_follows_the_monte_carlo_rate():
    # A 16-spp render of relMSE 0.01; an image of relMSE 0.001 is worth 160 spp: 40x over 4 spp.
    assert equal_quality_speedup(0.001, 0.01) == pytest.approx(40.0)
    assert equal_quality_speedup(0.04, 0.01) == pytest.approx(1.0)


def test_per_scene_tables_show_every_scene_ratio_energy_and_speedup():
    def sample(rel, flip, energy):
        return {"relMSE": rel, "FLIP": flip, "energy": energy}

    res = {"families": ["window", "dark"], "spp": {
        "4": {"per_sample": {"noisy": sample([0.4, 0.5], [0.3, 0.3], [0, 0]),
                             "oidn": sample([0.01, 0.02], [0.1, 0.1], [-0.002, 0.004]),
                             "ours": sample([0.005, 0.03], [0.08, 0.12], [-0.001, 0.009])}},
        "16": {"per_sample": {"noisy": sample([0.1, 0.12], [0.2, 0.2], [0, 0])}}}}
    (t1, scenes), (t2, speed) = per_scene_tables(res, ["noisy", "oidn", "ours"])
    lines = scenes.splitlines()
    assert "window" in lines[2] and "0.50" in lines[2] and "+0.90%" in lines[3] and "1.50" in lines[3]
    assert "worst scene relMSE / OIDN's: ours 1.50" in scenes
    # oidn: 16*0.1/0.01/4 = 40 and 16*0.12/0.02/4 = 24 -> geometric mean 31.0
    assert "| oidn | 31.0x | 24.0x | 40.0x |" in speed
    assert per_scene_tables({"spp": {"1": {}}}, ["noisy"]) == []
