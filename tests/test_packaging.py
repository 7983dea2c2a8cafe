"""A wheel (what `pip install aotgen` gets) carries the board files and project templates, not only
the editable checkout."""

import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_wheel_ships_boards_and_templates(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w",
                    str(tmp_path), str(REPO)], check=True, timeout=300, capture_output=True)
    (wheel,) = tmp_path.glob("aotgen-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for board in (REPO / "boards").glob("*.yaml"):
        assert f"aotgen/boards/{board.name}" in names
    for f in (REPO / "project_templates").rglob("*"):
        if f.is_file():
            assert f"aotgen/project_templates/{f.relative_to(REPO / 'project_templates')}" in names
    # Source the package builds on first use: the simavr bridge.
    assert "aotgen/harness/simavr_bridge.c" in names
    # The runtime C and LLVM IR the compiler copies into every model library.
    for f in (REPO / "aotgen/compiler/runtime").iterdir():
        assert f"aotgen/compiler/runtime/{f.name}" in names
