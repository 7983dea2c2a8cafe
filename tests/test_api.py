"""The public Python API, exactly as the README shows it: its snippet runs (compile for a board,
generate, build, test in QEMU) and passes."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

import aotgen

REPO = Path(__file__).resolve().parents[1]


def test_the_api_names_the_readme_promises():
    for name in ("compile", "CompileResult", "load_library", "ModelLibrary", "AotgenError", "load_board",
                 "generate_project", "build", "flash", "test_firmware", "libraries_for_board"):
        assert hasattr(aotgen, name), name


def test_readme_python_snippet_runs(tmp_path, monkeypatch):
    if shutil.which("qemu-system-arm") is None or shutil.which("arm-none-eabi-gcc") is None:
        pytest.skip("needs qemu-system-arm and arm-none-eabi-gcc (ci/setup.sh installs them)")
    (snippet,) = re.findall(r"## From Python.*?```python\n(.*?)```", (REPO / "README.md").read_text(), re.S)
    shutil.copytree(REPO / "examples", tmp_path / "examples")
    monkeypatch.chdir(tmp_path)
    exec(compile(snippet, "README.md", "exec"), {})  # noqa: S102 - the README's own code
    assert (tmp_path / "build/kws-fw/build/firmware.elf").is_file()


def test_a_board_name_is_a_compile_target(tmp_path):
    lib = aotgen.compile(REPO / "examples/models/kws_ref_model.tflite", tmp_path / "k", target="nucleo_f746zg").library
    assert lib.metadata["target"]["cpu"] == "cortex-m7"
    with pytest.raises(aotgen.AotgenError, match="unknown target 'no_such_board'"):
        aotgen.compile(REPO / "examples/models/kws_ref_model.tflite", tmp_path / "x", target="no_such_board")
    assert not (tmp_path / "x").exists()
