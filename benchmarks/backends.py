#!/usr/bin/env python3
"""The C and LLVM backends side by side on QEMU boards (mps2_an500 Cortex-M7 and mps2_an386 Cortex-M4 by default):
kernel code size, firmware flash, and instructions per inference counted under QEMU icount,
beside TFLite Micro's instruction counts measured on the same machine (../shared/notes/anchors.md).

    python benchmarks/backends.py [--boards mps2_an500,mps2_an386] [--models kws_ref_model,...] [--json]

QEMU counts instructions, not Cortex-M7 cycles: compare rows with each other, not with a datasheet.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import aotgen
from aotgen.firmware import build as firmware
from aotgen.firmware.boards import load_board
from aotgen.errors import AotgenError
from aotgen.harness.runner import test_firmware
from aotgen.firmware.project import generate_project

REPO = Path(__file__).resolve().parents[1]
MODELS = REPO / "tests" / "models"  # the published models, shipped with the tests

# TFLite Micro on mps2-an500, instructions of one Invoke() (reference kernels / CMSIS-NN) and MACs;
# printed beside that board's rows only.
TFLM_BOARD = "mps2_an500"
TFLM = {
    "kws_ref_model": (2_656_768, 43_612_560, 7_642_640),
    "vww_96_int8": (7_489_664, 101_220_000, 24_025_560),
    "pretrainedResnet_quant": (12_501_632, 108_685_360, 30_025_960),
    "ad01_int8": (264_192, 1_948_960, 583_280),
}
# Every test model; kws_ref_model_float32 (dynamic-range quantized) is refused and reported so.
DEFAULT_MODELS = ["hello_world_int8", "kws_ref_model", "pretrainedResnet_quant", "ad01_int8", "vww_96_int8",
                  "hello_world_float", "ad01_fp32", "pretrainedResnet", "vww_96_float", "kws_ref_model_float32"]


def find_model(name: str) -> Path:
    for sub in ("mlperf_tiny", "tflite_micro"):
        p = MODELS / sub / f"{name}.tflite"
        if p.is_file():
            return p
    raise SystemExit(f"no model {name} under {MODELS}")


def measure(name: str, backend: str, board_name: str, work: Path) -> dict:
    board = load_board(board_name)
    work = work / board_name
    lib = aotgen.compile(find_model(name), output=work / f"{name}_{backend}", prefix="m", backend=backend,
                         target=board.cpu).library
    project = generate_project([lib], board, "cmsis", work / f"fw_{name}_{backend}")
    build = firmware.build(project)
    result = test_firmware(project, count=1, seed=0)
    sample = result.reports[0].samples[0]
    return {"board": board_name, "model": name, "backend": backend, "passed": result.passed, "kernel_code_bytes": firmware.model_code_bytes(build.elf, "m"),
            "flash_bytes": build.flash_used, "instructions": sample.cycles, "unit": result.unit}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--boards", default="mps2_an500,mps2_an386", help="comma-separated QEMU boards")
    ap.add_argument("--models", default=",".join(DEFAULT_MODELS))
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as d:
        for board in args.boards.split(","):
            for name in args.models.split(","):
                try:
                    for backend in ("c", "llvm"):
                        rows.append(measure(name, backend, board, Path(d)))
                        if not args.json:
                            print(f"measured {name} ({backend}) on {board}", file=sys.stderr)
                except AotgenError as e:  # an unsupported model, or one too big for the board
                    print(f"skipped {name} on {board}: {e}", file=sys.stderr)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    for board in args.boards.split(","):
        print_table(board, [r for r in rows if r["board"] == board])
    return 0


def print_table(board: str, rows: list[dict]) -> None:
    print(f"\nboard {board}; counts: {rows[0]['unit'] if rows else 'instructions (QEMU icount)'}; "
          "LLVM code and instructions also as a ratio to the C backend's (goal: code <= 1.20x); "
          f"TFLM figures measured on {TFLM_BOARD}\n")
    print("model | backend | ok | model code (linked) | code vs C | flash | instructions | instr vs C | MAC/instr | TFLM ref | TFLM+CMSIS-NN")
    print("--- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---:")
    c_rows = {r["model"]: r for r in rows if r["backend"] == "c"}
    for r in rows:
        macs, ref, cmsis = TFLM.get(r["model"], (None, None, None))
        if board != TFLM_BOARD:
            ref = cmsis = None
        ipc = f"{macs / r['instructions']:.3f}" if macs and r["instructions"] else "-"
        c = c_rows.get(r["model"]) if r["backend"] != "c" else None
        code_ratio = f"{r['kernel_code_bytes'] / c['kernel_code_bytes']:.2f}x" if c else "-"
        instr_ratio = f"{r['instructions'] / c['instructions']:.2f}x" if c and c["instructions"] else "-"
        print(f"{r['model']} | {r['backend']} | {'yes' if r['passed'] else 'NO'} | {r['kernel_code_bytes']:,} | {code_ratio} | "
              f"{r['flash_bytes']:,} | {r['instructions'] or 0:,} | {instr_ratio} | {ipc} | {f'{ref:,}' if ref else '-'} | "
              f"{f'{cmsis:,}' if cmsis else '-'}")


if __name__ == "__main__":
    sys.exit(main())
