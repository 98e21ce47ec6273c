"""The run folder: config, atomic checkpoints with resume, the split of a dataset."""

import json
from dataclasses import dataclass, field

import pytest
import torch

from neural_ops.core.errors import NeuralRenderError
from training.common import runs
from training.common.samples import data_summary, list_samples, read_manifest, sample_dir


@dataclass
class _Cfg:
    data: str
    out: str
    val_count: int = 1
    max_samples: int = 0
    seed: int = 0
    nested: dict = field(default_factory=lambda: {"a": 1})


def _dataset(root, n=4):
    for i in range(n):
        sample_dir(root, i).mkdir(parents=True)
        (sample_dir(root, i) / "sample.json").write_text("{}")
    sample_dir(root, n).mkdir()  # unfinished: no sample.json
    (root / "manifest.json").write_text(json.dumps({"config": {"seed": 11, "resolution": 32, "ref_spp": 8}}))


def test_prepare_splits_and_writes_the_config(tmp_path):
    _dataset(tmp_path / "ds")
    cfg = _Cfg(data=str(tmp_path / "ds"), out=str(tmp_path / "run"), val_count=1, max_samples=2)
    out, train_idx, val_idx = runs.prepare(cfg, log=lambda m: None)
    assert (train_idx, val_idx) == ([0, 1], [3]) and list_samples(tmp_path / "ds") == [0, 1, 2, 3]
    saved = json.loads((out / runs.CONFIG).read_text())
    assert saved["nested"] == {"a": 1} and saved["train_samples"] == 2 and saved["val_samples"] == [3]
    assert read_manifest(tmp_path / "ds")["config"]["seed"] == 11 and read_manifest(tmp_path) == {}
    s = data_summary(tmp_path / "ds", train_idx, val_idx)
    assert s["dataset_seed"] == 11 and s["train_indices"] == "0..1" and s["val_indices"] == "3..3"
    with pytest.raises(NeuralRenderError, match="4 samples, need more than --val-count 4"):
        runs.prepare(_Cfg(data=cfg.data, out=cfg.out, val_count=4), log=lambda m: None)


def test_checkpoints_round_trip_and_refuse_other_settings(tmp_path):
    net = torch.nn.Linear(3, 2)
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    path = tmp_path / runs.CHECKPOINT
    runs.save_checkpoint(path, {"model": net, "opt0": opt}, step=7, seconds=1.5)
    assert not list(tmp_path.glob("*.tmp"))
    other = torch.nn.Linear(3, 2)
    st = runs.load_checkpoint(path, {"model": other, "opt0": torch.optim.SGD(other.parameters(), lr=0.1)})
    assert st["step"] == 7 and torch.equal(other.weight, net.weight)
    with pytest.raises(NeuralRenderError, match="written by a run with other settings"):
        runs.load_checkpoint(path, {"model": torch.nn.Linear(4, 2)})


def test_log_plot_and_card_reading(tmp_path):
    (tmp_path / runs.LOG).write_text("\n".join(json.dumps({"step": s, "loss": 1.0 / s, "val_psnr": 20.0 + s})
                                               for s in (1, 2, 3)) + "\n")
    runs.plot_log(tmp_path / runs.LOG, tmp_path / runs.PLOT, "val_psnr", "PSNR", log_scale=False)
    with pytest.raises(NeuralRenderError, match="no exported model"):
        runs.read_card(tmp_path)
    assert runs.command_line().startswith("neural-render") and "CPU cores" in runs.machine()
