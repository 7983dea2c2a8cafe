"""NaN and infinities through float kernels, as TFLite and onnxruntime compute them: ReLU, ReLU6,
Clip, Max, Min and fused activations keep NaN and clamp infinities (TVM's max/min alone would turn
ReLU(NaN) into 0); the comparison treats NaN as equal only to NaN; --json stays strict JSON."""

from __future__ import annotations

import json
import subprocess

import numpy as np
import onnx
from onnx import TensorProto, helper

from aotgen.compiler.tensors import TensorInfo
from aotgen.verify.compare import compare_output
from aotgen_testlib import AOTGEN
from tflite_builder import RELU6, ModelSpec

SPECIAL = np.array([[np.nan, np.inf, -np.inf, -1.5, 0.0, 3.0, 7.0, -0.0]], np.float32)


def check_host(model, tmp_path) -> dict:
    np.save(tmp_path / "x.npy", SPECIAL)
    proc = subprocess.run([AOTGEN, "check-host", str(model), "--inputs", str(tmp_path / "x.npy"), "--count", "0",
                           "--save-outputs", str(tmp_path / "out"), "--json"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr

    def refuse(token):
        raise ValueError(f"bare {token} in --json output")

    return json.loads(proc.stdout, parse_constant=refuse)  # strict JSON: no bare NaN or Infinity


def test_onnx_relu_clip_max_min_keep_nan(tmp_path):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8])
    names = ["relu", "clip", "max", "min"]
    outs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, 8]) for n in names]
    consts = [helper.make_tensor("lo", TensorProto.FLOAT, [], [0.0]), helper.make_tensor("hi", TensorProto.FLOAT, [], [6.0]),
              helper.make_tensor("k", TensorProto.FLOAT, [1, 8], [1.0] * 8)]
    nodes = [helper.make_node("Relu", ["x"], ["relu"]), helper.make_node("Clip", ["x", "lo", "hi"], ["clip"]),
             helper.make_node("Max", ["x", "k"], ["max"]), helper.make_node("Min", ["k", "x"], ["min"])]
    model = helper.make_model(helper.make_graph(nodes, "nan", [x], outs, consts), opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, tmp_path / "nan.onnx")
    report = check_host(tmp_path / "nan.onnx", tmp_path)
    assert report["passed"]
    got = [np.load(tmp_path / f"out/sample_0/output_{i}.npy") for i in range(4)]
    assert np.isnan(got[0][0, 0]) and got[0][0, 1] == np.inf and got[0][0, 2] == 0  # ReLU
    assert np.isnan(got[1][0, 0]) and got[1][0, 1] == 6 and got[1][0, 2] == 0  # Clip
    assert np.isnan(got[2][0, 0]) and np.isnan(got[3][0, 0])  # Max, Min (NaN on either side)


def test_tflite_relu_and_fused_relu6_keep_nan(tmp_path):
    m = ModelSpec()
    x = m.input("x", [1, 8], "float32")
    r = m.activation("relu", [1, 8], "float32")
    m.op("RELU", [x], [r])
    y = m.activation("add_relu6", [1, 8], "float32")
    m.op("ADD", [r, m.const("zero", np.zeros((1, 8), np.float32))], [y], "AddOptions", FusedActivationFunction=RELU6)
    (tmp_path / "nan.tflite").write_bytes(m.to_bytes(outputs=[r, y]))
    check_host(tmp_path / "nan.tflite", tmp_path)
    relu, relu6 = (np.load(tmp_path / f"out/sample_0/output_{i}.npy") for i in range(2))
    assert np.isnan(relu[0, 0]) and relu[0, 1] == np.inf and np.isnan(relu6[0, 0]) and relu6[0, 1] == 6


def test_nan_is_equal_only_to_nan():
    t = TensorInfo("y", "y", [4], "float32")
    ref = np.array([np.nan, np.inf, 1.0, 2.0], np.float32)
    assert compare_output(ref.copy(), ref, t).passed
    for bad in ([0.0, np.inf, 1.0, 2.0], [np.nan, 1e30, 1.0, 2.0], [np.nan, np.inf, np.nan, 2.0],
                [np.nan, -np.inf, 1.0, 2.0]):
        check = compare_output(np.array(bad, np.float32), ref, t)
        assert not check.passed and check.max_abs_error == np.inf
