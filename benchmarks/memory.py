#!/usr/bin/env python3
"""Memory of every test model, beside TFLite Micro's: weights, constants, arena, code size.

    python benchmarks/memory.py [--models DIR] [--json]

Columns: weight bytes (the model's own constant tensors); our constant bytes, host and Cortex-M7
builds (a DSP core's kernels lay out their constants their own way); our arena, host and Cortex-M7
(where the DSP kernels' scratch is planned in); the caller's I/O buffers; the arena with
--io-in-arena (inputs and outputs inside: the figure to compare with TFLM's arena head, which
includes I/O); the lower bound (largest set of arena tensors live at once, I/O excluded); and the
Cortex-M7 size of the compiled library (`arm-none-eabi-size` text: code and constants, gcc -O2).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import tflite

import aotgen
from aotgen.compiler.targets import get_cpu

REPO = Path(__file__).resolve().parents[1]


def weight_bytes(path: Path) -> int:
    """Bytes of the model's constant buffers (weights and biases), as the models' READMEs count them."""
    model = tflite.Model.GetRootAsModel(path.read_bytes(), 0)
    sg = model.Subgraphs(0)
    return sum(model.Buffers(b).DataLength() for b in {sg.Tensors(i).Buffer() for i in range(sg.TensorsLength())})


def model_table(models_dir: Path) -> dict[str, dict]:
    """Every <source>/<model>.tflite under models_dir: its weight bytes and TFLite Micro's planned
    arena ("head", from io/<model>/tflm_allocations.txt where the model has one)."""
    rows = {}
    for path in sorted(models_dir.glob("*/*.tflite")):
        report = path.parent / "io" / path.stem / "tflm_allocations.txt"
        head = re.search(r"Arena allocation head (\d+) bytes", report.read_text()) if report.is_file() else None
        rows[path.stem] = {"path": path, "weight_bytes": weight_bytes(path),
                           "tflm_head": int(head.group(1)) if head else None}
    return rows


def code_size(lib) -> int:
    cpu = get_cpu("cortex-m7")
    with tempfile.TemporaryDirectory() as d:
        obj = Path(d) / "lib.o"
        subprocess.run(["arm-none-eabi-gcc", *cpu.gcc_flags, "-std=c99", "-O2", "-ffunction-sections",
                        "-I", str(lib.include_dir), "-c", *map(str, lib.sources), "-o", str(obj)],
                       check=True, timeout=600, capture_output=True)
        out = subprocess.run(["arm-none-eabi-size", str(obj)], check=True, timeout=60,
                             capture_output=True, text=True).stdout.splitlines()[1].split()
        return int(out[0])  # text: code + const data in flash


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", type=Path, default=REPO / "tests" / "models",
                    help="a folder of <source>/<model>.tflite (default: the test models; ../shared/models works too)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    rows = []
    for name, info in model_table(args.models).items():
        try:
            with tempfile.TemporaryDirectory() as d:
                lib = aotgen.compile(info["path"], output=Path(d) / name, prefix="m").library
                io_lib = aotgen.compile(info["path"], output=Path(d) / f"{name}_io", prefix="m", io_in_arena=True).library
                # What ships on a DSP core: its kernels lay out weights and biases their own way.
                m7 = aotgen.compile(info["path"], output=Path(d) / f"{name}_m7", prefix="m", target="cortex-m7").library
                m = lib.metadata
                rows.append({
                    "model": name,
                    "weight_bytes": info["weight_bytes"],
                    "constant_bytes": m["constant_bytes"],
                    "m7_constant_bytes": m7.metadata["constant_bytes"],
                    "m7_constants_per_weight": round(m7.metadata["constant_bytes"] / info["weight_bytes"], 3)
                    if info["weight_bytes"] else None,
                    "arena_bytes": m["workspace_bytes"],
                    "m7_arena_bytes": m7.metadata["workspace_bytes"],
                    "io_bytes": m["memory"]["io_bytes"],
                    "ram_bytes": m["workspace_bytes"] + m["memory"]["io_bytes"],
                    "io_in_arena_bytes": io_lib.workspace_bytes,
                    "tflm_head": info["tflm_head"],
                    "lower_bound": m["memory"]["lower_bound_bytes"],
                    "code_text_bytes": code_size(m7),
                })
        except aotgen.AotgenError as e:
            rows.append({"model": name, "error": str(e).splitlines()[0]})
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    cols = ["model", "weight_bytes", "constant_bytes", "m7_constant_bytes", "m7_constants_per_weight", "arena_bytes",
            "m7_arena_bytes", "io_bytes", "ram_bytes", "io_in_arena_bytes", "tflm_head", "lower_bound", "code_text_bytes"]
    heads = ["model", "weights", "constants", "M7 constants", "M7 / weights", "arena", "M7 arena", "I/O", "arena+I/O",
             "--io-in-arena", "TFLM head", "lower bound", "M7 text"]
    print(" | ".join(heads))
    print(" | ".join("---" for _ in heads))
    for r in rows:
        if "error" in r:
            print(f"{r['model']} | not compiled: {r['error']}")
            continue
        print(" | ".join(f"{r[c]:,}" if isinstance(r[c], int) else str(r[c] if r[c] is not None else "-") for c in cols))
    return 0


if __name__ == "__main__":
    sys.exit(main())
