"""`eval inbetween`'s options: bad ones are one clear line before anything renders."""

import pytest

from training.novel_view.inbetween_eval import InbetweenEvalConfig


def test_options_are_checked_and_lists_split():
    cfg = InbetweenEvalConfig(shots=["objects,thin"], every=["2,4"], max_flip=["0.03,0.05"], methods=["motion,flow"])
    cfg.check()
    assert cfg.shots == ["objects", "thin"] and cfg.every == [2, 4] and cfg.max_flip == [0.03, 0.05]
    assert cfg.size == (320, 180)
    for bad, match in ((dict(shots=["garden"]), "unknown --shot garden"),
                       (dict(methods=["rife"]), "unknown --method rife"),
                       (dict(every=[17]), "--every must be between 2"),
                       (dict(resolution="320"), "expected WxH")):
        with pytest.raises(ValueError, match=match):
            InbetweenEvalConfig(**bad).check()
