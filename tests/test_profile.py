"""`aotgen profile`: per-layer instruction counts of the shipped firmware in QEMU, through the
counting plugin. The rows must add up to what the firmware's own counter measures around the run,
and the MACs to what the model's layers do (counted here from the .tflite itself)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import tflite

from aotgen_testlib import AOTGEN, REPO

KWS = REPO / "examples/models/kws_ref_model.tflite"

pytestmark = [
    pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None, reason="needs gcc-arm-none-eabi"),
    pytest.mark.skipif(shutil.which("qemu-system-arm") is None, reason="needs qemu-system-arm"),
]


def model_macs(path: Path) -> int:
    """MACs of the convolutions and fully connected layers, from the flatbuffer's tensor shapes."""
    model = tflite.Model.GetRootAsModel(path.read_bytes(), 0)
    graph = model.Subgraphs(0)
    total = 0
    for i in range(graph.OperatorsLength()):
        op = graph.Operators(i)
        code = model.OperatorCodes(op.OpcodeIndex())
        name = {v: k for k, v in tflite.BuiltinOperator.__dict__.items() if not k.startswith("_")}[
            max(code.BuiltinCode(), code.DeprecatedBuiltinCode())]
        out = int(np.prod(graph.Tensors(op.Outputs(0)).ShapeAsNumpy()))
        weights = graph.Tensors(op.Inputs(1)).ShapeAsNumpy() if op.InputsLength() > 1 else None
        if name == "CONV_2D":
            total += out * int(np.prod(weights[1:]))
        elif name == "DEPTHWISE_CONV_2D":
            total += out * int(weights[1] * weights[2])
        elif name == "FULLY_CONNECTED":
            total += out * int(weights[1])
    return total


def profile(*args: str) -> dict:
    proc = subprocess.run([AOTGEN, "profile", *args, "--json"], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    (p,) = json.loads(proc.stdout)["profiles"]
    return p


@pytest.mark.parametrize("backend", ["c", "llvm"])
def test_layers_add_up_to_the_inference(backend, tmp_path):
    p = profile(str(KWS), "--board", "mps2_an500", "--backend", backend, "--count", "2", "-o", str(tmp_path / "fw"))
    assert p["unit"] == "instructions (QEMU icount)" and p["inferences"] == 2
    layers = p["layers"]
    assert [row["kernel"] for row in layers][-1] == "run glue"
    assert all(row["count"] > 0 for row in layers[:-1])
    # The plugin's rows against the SysTick count the firmware itself takes around <prefix>_run:
    # the same instructions, up to the few the timer reads themselves cost.
    assert abs(p["total"] - p["harness_count"]) < 200, (p["total"], p["harness_count"])
    assert p["total"] > 1e6
    assert abs(sum(row["share"] for row in layers) - 1) < 1e-9
    assert p["macs"] == model_macs(KWS) == sum(row["macs"] for row in layers)
    convs = [row for row in layers if "conv" in row["kernel"]]
    assert len(convs) == 9 and all(row["macs_per_count"] > 0 for row in convs)
    # The project it made profiles again, as a project.
    again = profile(str(tmp_path / "fw"), "--count", "1")
    assert abs(again["total"] - p["total"]) < 0.01 * p["total"]


def test_profile_refuses_clearly(tmp_path):
    for args, message in (([str(KWS)], "needs --board"),
                          ([str(KWS), "--board", "nucleo_f401re"], "does not run there")):
        proc = subprocess.run([AOTGEN, "profile", *args], capture_output=True, text=True, timeout=600)
        assert proc.returncode != 0 and message in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
