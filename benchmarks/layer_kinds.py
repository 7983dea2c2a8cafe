#!/usr/bin/env python3
"""MACs per instruction by kind of layer: what `aotgen profile` counts (QEMU instructions of the
firmware shipped, layer by layer), summed over the layers of each kind.

    python benchmarks/layer_kinds.py [--board mps2_an500] [--backend c] [--models kws_ref_model,...] [--json]

A layer's kind is the C kernel its code calls (1x1 convolution, convolution over im2col, the input
layer's among them, depthwise, fully connected, elementwise); "other" is the rest (softmax,
pooling, copies, the runner's glue).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

from aotgen.api import libraries_for_board
from aotgen.firmware import boards
from aotgen.firmware.build import build
from aotgen.firmware.project import generate_project
from aotgen.harness.profile import profile_model
from aotgen.harness.runner import project_libraries

REPO = Path(__file__).resolve().parents[1]
MODELS = REPO / "tests" / "models"
DEFAULT_MODELS = ["kws_ref_model", "vww_96_int8", "pretrainedResnet_quant", "ad01_int8"]
KINDS = ["1x1 conv", "input conv (im2col)", "conv (im2col)", "depthwise", "fully connected", "elementwise",
         "other"]


def function_body(source: str, name: str) -> str:
    m = re.search(rf"\b{re.escape(name)}\s*\([^)]*\)\s*\{{", source)
    if not m:
        return ""
    depth, i = 1, m.end()
    while depth and i < len(source):
        depth += {"{": 1, "}": -1}.get(source[i], 0)
        i += 1
    return source[m.end():i]


def kind_of(source: str, prefix: str, function: str) -> str:
    """The kind of a layer from the C kernel its function calls."""
    body = function_body(source, function)
    if f"{prefix}_conv_gemm_1x1_s8(" in body:
        return "1x1 conv"
    call = re.search(rf"{prefix}_conv_gemm_s8\(([^;]*)\);", body)
    if call:  # arguments: x, h, w, c_in, ...
        c_in = call.group(1).split(",")[3].strip()
        return "input conv (im2col)" if c_in.isdigit() and int(c_in) < 4 else "conv (im2col)"
    for kernel, kind in (("depthwise_s8", "depthwise"), ("dwconv_s8", "depthwise"), ("conv1x1_s8", "1x1 conv"),
                         ("fc_s8", "fully connected"), ("add_s8", "elementwise"), ("mul_s8", "elementwise")):
        if f"{prefix}_{kernel}(" in body:
            return kind
    return "other"


def measure(model: str, board_name: str, backend: str, tmp: Path) -> dict[str, dict[str, float]]:
    path = next(MODELS.glob(f"*/{model}.tflite"))
    board = boards.load_board(board_name)
    libs = libraries_for_board([path], None, board, tmp / model / "lib",
                               {"backend": backend, "workspace": "static", "io_in_arena": False}, None)
    project = generate_project(libs, board, "cmsis", tmp / model / "project")
    build(project)
    board, elf, libs = project_libraries(project)
    lib = libs[0]
    source = "\n".join(s.read_text() for s in lib.sources)
    kinds: dict[str, dict[str, float]] = defaultdict(lambda: {"layers": 0, "macs": 0, "instructions": 0.0})
    for layer in profile_model(board, elf, libs, 0, count=1).layers:
        kind = kind_of(source, lib.prefix, layer.kernel)
        kinds[kind]["layers"] += 1
        kinds[kind]["macs"] += layer.macs
        kinds[kind]["instructions"] += layer.count
    return dict(kinds)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--board", default="mps2_an500", help="a QEMU board")
    ap.add_argument("--backend", default="c", choices=["c", "llvm"])
    ap.add_argument("--models", default=",".join(DEFAULT_MODELS))
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    results = {}
    with tempfile.TemporaryDirectory() as d:
        for model in args.models.split(","):
            results[model] = measure(model, args.board, args.backend, Path(d))
            if not args.json:
                print(f"profiled {model} ({args.backend}) on {args.board}", file=sys.stderr)
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    print(f"\nboard {args.board}, {args.backend} backend; MAC/instruction (share of the model's instructions)\n")
    print("model | " + " | ".join(KINDS))
    print("--- | " + " | ".join("---:" for _ in KINDS))
    for model, kinds in results.items():
        total = sum(k["instructions"] for k in kinds.values())
        cells = []
        for kind in KINDS:
            k = kinds.get(kind)
            if not k:
                cells.append("-")
            elif k["macs"]:
                cells.append(f"{k['macs'] / k['instructions']:.2f} ({k['instructions'] / total:.0%})")
            else:
                cells.append(f"({k['instructions'] / total:.0%})")
        print(f"{model} | " + " | ".join(cells))
    return 0


if __name__ == "__main__":
    sys.exit(main())
