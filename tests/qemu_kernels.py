"""The QEMU side of the C kernels' tests (test_dsp.py, test_fc_elementwise_qemu.py): small models,
each compiled with both backends for a board, all in one firmware, run in QEMU against LiteRT."""

from __future__ import annotations

from pathlib import Path

import aotgen
from aotgen.firmware import boards
from aotgen.firmware import build as firmware
from aotgen.firmware.project import generate_project
from aotgen.harness.runner import test_firmware


def assert_bit_exact_in_qemu(board_name: str, cases, tmp_path: Path, count: int = 3, seed: int = 4) -> None:
    """cases: (ModelSpec, output tensor, the C kernel it must call). Every library's C calls its
    kernel (the one under test is used); every output is 0 LSB from LiteRT's."""
    board = boards.load_board(board_name)
    libs = []
    for i, (spec, y, kernel) in enumerate(cases):
        path = tmp_path / f"m{i}.tflite"
        path.write_bytes(spec.to_bytes([y]))
        for backend in ("c", "llvm"):
            lib = aotgen.compile(path, output=tmp_path / f"{backend}{i}", prefix=f"{backend}{i}", backend=backend,
                                 target=board.cpu).library
            assert f"{lib.prefix}_{kernel}(" in lib.sources[0].read_text()
            libs.append(lib)
    project = generate_project(libs, board, "cmsis", tmp_path / "fw")
    firmware.build(project)
    result = test_firmware(project, count=count, seed=seed)
    assert result.passed, result.to_json()
    assert len(result.reports) == len(libs)
    for prefix, report in zip(result.prefixes, result.reports):
        assert report.max_abs_error() == 0, (prefix, report.to_json())
