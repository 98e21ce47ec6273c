"""The ``neural-render`` shell: plugins found through entry points, train/eval/data parsers
generated from config dataclasses, and every documented command line still parsing."""

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

import neural_ops.cli as cli
from neural_ops.cli import build_parser, main
from neural_ops.cli.args import add_config, field_docs

ROOT = Path(__file__).resolve().parents[4]


def _parse(argv):
    return build_parser().parse_args(argv)


def _help(argv, capsys) -> str:
    with pytest.raises(SystemExit) as e:
        _parse([*argv, "--help"])
    assert e.value.code == 0
    return capsys.readouterr().out


def test_plugins_are_discovered_and_listed_in_help(capsys):
    assert {ep.name for ep in cli.plugins()} >= {"files", "blender", "training"}
    text = _help([], capsys)
    for command in ("denoise", "novel-view", "ops", "bench", "export", "demo", "inbetween", "build-extension",
                    "data", "train", "eval", "ship", "curves", "benchmark"):
        assert re.search(rf"^\s+{command}\b", text, re.M), command


class _EntryPoint:
    def __init__(self, name, fn):
        self.name, self.value, self._fn = name, f"fake:{name}", fn

    def load(self):
        return self._fn()


def test_a_broken_plugin_leaves_the_other_commands_working(monkeypatch, capsys):
    from neural_ops.cli import files

    def half_register(sub):
        sub.add_parser("half-added")
        raise RuntimeError("boom")

    def missing():
        raise ImportError("No module named 'gone'")

    fakes = [_EntryPoint("files", lambda: files.register), _EntryPoint("gone", missing),
             _EntryPoint("half", lambda: half_register)]
    monkeypatch.setattr(cli, "entry_points", lambda group: fakes)
    assert main(["ops", "denoise"]) == 0
    captured = capsys.readouterr()
    assert "bilateral" in captured.out and "gone" not in captured.out + captured.err
    text = _help([], capsys)
    assert "half-added" not in text.split("Command plugins")[0]  # what it had added is removed
    assert "gone" in text and "boom" in text  # only --help tells


def test_train_help_shows_field_docs_and_dataclass_defaults(capsys):
    pytest.importorskip("torch")
    text = " ".join(_help(["train", "denoise"], capsys).split())
    assert "Crops per step. (default: 16)" in text
    assert "--gan" not in text and "--photos" not in text  # other ops' options
    text = " ".join(_help(["train", "novel-view"], capsys).split())
    assert "--noisy-views" in text and "--split" in text and "--head" not in text


def test_defaults_come_from_the_dataclass(tmp_path):
    pytest.importorskip("torch")
    from training.denoise.train import TrainConfig
    from training.novel_view.train import NovelViewTrainConfig

    args = _parse(["train", "denoise", "--data", str(tmp_path)])
    assert args.config(args) == TrainConfig(data=str(tmp_path))
    args = _parse(["train", "ibr", "--data", "d", "--split", "--noisy-views", "--k", "3", "--channels", "8,12"])
    cfg = args.config(args)
    assert isinstance(cfg, NovelViewTrainConfig) and cfg.denoise is False and cfg.steps == NovelViewTrainConfig.steps
    assert (cfg.model.split, cfg.model.k, cfg.model.channels) == (True, 3, [8, 12])


@pytest.mark.parametrize("argv", [
    ["train", "denoise", "--data", "d", "--gan", "patch"],  # cg2real's
    ["train", "denoise", "--data", "d", "--loss", "display"],  # a cg2real loss
    ["train", "relight", "--data", "d", "--lighting-dim", "8"],  # set by the trainer
    ["train", "cg2real-unpaired", "--data", "d"],  # --photos is required
    ["eval", "relight", "--data", "d", "--every", "4"],
])
def test_an_option_the_op_ignores_is_refused(argv, capsys):
    pytest.importorskip("torch")
    with pytest.raises(SystemExit) as e:
        _parse(argv)
    assert e.value.code == 2
    capsys.readouterr()


def _documented_lines():
    """``neural-render data|train|eval ...`` command lines of the README's examples and of the
    model cards' "trained with" (not mentions in prose)."""
    found = re.findall(r"^neural-render (?:data|train|eval) .*", (ROOT / "README.md").read_text(), re.M)
    for card in sorted((ROOT / "neural_ops" / "weights").glob("*.md")):
        found += re.findall(r"`(neural-render (?:data|train|eval) [^`]*)`", card.read_text())
    out = []
    for line in found:
        line = line.split("  #")[0].split(" # ")[0].strip()
        line = re.sub(r"\[([^\]]*)\]", r"\1", line)  # optional parts: [--split] -> --split
        if "..." not in line and " --" in line:
            out.append(line)
    return sorted(set(out))


def _field_of_flag(obj, flag):
    """The dataclass field a flag sets when its name differs (``metadata={"flag": ...}``)."""
    import dataclasses

    for f in dataclasses.fields(obj) if dataclasses.is_dataclass(obj) else ():
        named = f.metadata.get("flag", ())
        if flag == named or (isinstance(named, tuple) and flag in named):
            return f.name
    return None


def test_documented_command_lines_parse_with_their_meaning():
    pytest.importorskip("torch")
    lines = _documented_lines()
    assert len(lines) > 20
    for line in lines:
        argv = shlex.split(line)[1:]
        args = _parse(argv)
        cfg = args.config(args)
        # Every "--flag value" on the line reached the config field of that name.
        for flag, value in zip(argv, argv[1:]):
            if not flag.startswith("--") or value.startswith("-") or flag in ("--model", "--from"):
                continue
            field = flag[2:].replace("-", "_")
            obj = cfg.model if not hasattr(cfg, field) and hasattr(cfg, "model") else cfg
            field = _field_of_flag(obj, flag) or field
            got = getattr(obj, field)
            got = ",".join(map(str, got)) if isinstance(got, list) else "/".join(map(str, got)) if isinstance(got, tuple) else got
            assert str(got) == value or str(got) == str(type(got)(value)), (line, flag, got)
        if "-o" in argv:
            assert cfg.out == argv[argv.index("-o") + 1], line


def test_number_lists_are_one_line_errors(tmp_path, capsys):
    pytest.importorskip("torch")
    assert main(["train", "denoise", "--data", str(tmp_path), "--spp", "1,x"]) == 2
    assert capsys.readouterr().err == "error: bad --spp '1,x': 'x' is not a positive integer (use e.g. 1,4,16)\n"


def test_field_docs_read_the_docstring_under_each_field_and_attributes_sections():
    import dataclasses

    @dataclasses.dataclass
    class Example:
        """Attributes:
            b: from the class docstring,
                continued.
            c, d: shared.
        """

        a: int = 1
        """Under the field, with ``literals`` and :func:`roles`."""
        b: int = 2
        c: int = 3
        d: int = 4

    assert field_docs(Example) == {"a": "Under the field, with literals and roles.",
                                   "b": "from the class docstring, continued.", "c": "shared.", "d": "shared."}


def test_add_config_on_a_plain_parser():
    import argparse
    import dataclasses

    @dataclasses.dataclass
    class Inner:
        size: list[int] = dataclasses.field(default_factory=lambda: [1, 2])
        on: bool = True

    @dataclasses.dataclass
    class Outer:
        name: str
        inner: Inner = dataclasses.field(default_factory=lambda: Inner(size=[5]))
        tags: list[str] = dataclasses.field(default_factory=lambda: ["x"])

    p = argparse.ArgumentParser()
    binding = add_config(p, Outer)
    assert binding.build(p.parse_args(["--name", "n"])) == Outer("n")
    assert binding.build(p.parse_args(["--name", "n", "--no-on"])) == Outer("n", Inner([5], False))
    assert binding.build(p.parse_args(["--name", "n", "--tags", "a", "--tags", "b"])).tags == ["a", "b"]


def test_the_library_cli_imports_neither_addon_nor_training_nor_torch():
    code = ("import sys, neural_ops.cli as c; p = c.build_parser(); "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'bpy'})); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('addon', 'training') "
            "and m not in ('addon', 'addon.shim', 'addon.cli', 'training', 'training.cli')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split("\n")
    assert out[0] == "[]" and out[1] == "[]", out  # building the parser stays light
    code = "import sys, neural_ops.cli, neural_ops.cli.files; print(sorted(m for m in sys.modules if m.split('.')[0] in ('addon', 'training')))"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "[]\n"


def test_train_without_torch_is_a_one_line_error(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "torch", None)  # as on a machine without torch
    for argv in (["train", "denoise", "--data", "d"], ["eval", "relight", "--help"]):
        assert main(argv) == 2
        assert capsys.readouterr().err == "error: this command needs torch: pip install torch==2.13.0\n"


def test_addon_cli_imports_without_bpy_and_says_what_is_missing(monkeypatch, capsys):
    code = "import sys; sys.modules['bpy'] = None; import addon.cli; print('bpy' in {m for m in sys.modules if sys.modules[m]})"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "False\n"
    monkeypatch.setitem(sys.modules, "bpy", None)
    assert main(["inbetween", "x.blend", "-o", "out"]) == 2
    assert capsys.readouterr().err.count("\n") == 1
    assert main(["data", "denoise", "-o", "out", "--scenes", "1"]) == 2
    assert "pip install bpy" in capsys.readouterr().err
