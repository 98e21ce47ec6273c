"""What the add-on shows a user: one line, in the interface's words (no command-line options),
and a clear line for an empty or wrong file path."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from addon import jobs, params
from neural_ops import NeuralRenderError, OutputExistsError
from neural_ops.core import exr

ADDON = Path(__file__).resolve().parents[3] / "addon"
FLAG = re.compile(r"(?<![\w-])--[a-z]")


def test_output_exists_error_names_the_overwrite_setting(tmp_path):
    f = tmp_path / "a.exr"
    f.write_bytes(b"")
    with pytest.raises(OutputExistsError) as e:
        exr.check_writable(f, overwrite=False)
    assert "--overwrite" in str(e.value)  # the CLI's words...
    msg = jobs.user_message(e.value)
    assert "turn on Overwrite" in msg and not FLAG.search(msg)  # ...become the GUI's


@pytest.mark.parametrize("text, want", [
    ("no model is shipped yet: using unstructured lumigraph rendering (--method ulr)", "(Blending: Lumigraph)"),
    ("x.exr: --temporal needs the 'Vector' pass", "Temporal needs"),
    ("--every must be >= 1, got 0", "Every must be"),
    ("--ref-spp must be positive", "'Ref Spp' must be"),
    ("a.exr: exists (2 of 3 outputs do; pass --overwrite to replace them)", "(turn on Overwrite to replace them)"),
])
def test_gui_text_has_no_command_line_options(text, want):
    got = jobs.gui_text(text)
    assert want in got and not FLAG.search(got)


def test_user_message_is_one_line():
    e = NeuralRenderError("first line\n  second line\r\nthird")
    assert jobs.user_message(e) == "first line second line third"
    assert "\n" not in jobs.user_message(ValueError("a\nb"))


def test_job_failure_reports_gui_words(tmp_path):
    f = tmp_path / "o.exr"
    f.write_bytes(b"")

    def work(progress, cancel):
        exr.check_writable(f, overwrite=False)

    level, message = jobs.Job("Denoise", work=work).run()
    assert level == "ERROR" and message.startswith("Denoise: ") and not FLAG.search(message)


@pytest.mark.parametrize("path, want", [("", "no file chosen"), ("   ", "no file chosen"), ("{dir}", "is a folder"),
                                        ("{dir}/missing.exr", "no such file")])
def test_input_file_says_what_is_wrong_in_one_line(tmp_path, path, want):
    with pytest.raises(NeuralRenderError, match=want) as e:
        params.input_file(path.format(dir=tmp_path))
    assert "\n" not in str(e.value)


def test_input_file_returns_the_file(tmp_path):
    f = tmp_path / "v.exr"
    f.write_bytes(b"x")
    assert params.input_file(str(f)) == f


def _shown_strings(tree: ast.AST):
    """String constants (and f-string parts) passed to report(...) or to an error's constructor."""
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = getattr(node.func, "attr", getattr(node.func, "id", ""))
        if name == "report" or name.endswith("Error"):
            for arg in node.args:
                for sub in ast.walk(arg):
                    if isinstance(sub, ast.Constant) and isinstance(sub.value, str):
                        yield node.lineno, sub.value


#: Messages of headless code the CLI shares, which name the CLI's option (translated when shown).
SHARED_WITH_CLI = ("--overwrite", "--every", "--max-flip")


def test_no_add_on_message_names_a_command_line_option():
    """The add-on's own messages (operators, panels, engines) use the interface's words; the CLI
    plugin (cli.py) and the dataset subprocess arguments are not messages."""
    bad = []
    for path in sorted(ADDON.rglob("*.py")):
        if path.name in ("cli.py", "package.py"):
            continue
        for line, text in _shown_strings(ast.parse(path.read_text())):
            if FLAG.search(text) and not any(f in text for f in SHARED_WITH_CLI):
                bad.append(f"{path.relative_to(ADDON)}:{line}: {text}")
    assert not bad, "\n".join(bad)
