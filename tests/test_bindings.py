"""Every kind of Relax binding the graph walk meets: tuples (Split), views (Flatten) that are both
consumed and returned, several outputs, an output that is the model input itself, and constants
passed straight to kernels. Checked end to end against onnxruntime."""

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import aotgen
from aotgen.verify.hostcheck import check_on_host
from aotgen.verify.reference import run_reference
from aotgen.verify.compare import random_inputs


def build_model(path):
    rng = np.random.default_rng(3)
    w = numpy_helper.from_array(rng.normal(0, 0.3, (4, 3, 3, 3)).astype(np.float32), "w")
    g = numpy_helper.from_array(rng.normal(0, 0.2, (64, 10)).astype(np.float32), "g")
    gb = numpy_helper.from_array(rng.normal(0, 0.1, (10,)).astype(np.float32), "gb")
    split = numpy_helper.from_array(np.array([4, 6], dtype=np.int64), "split")
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1], strides=[2, 2]),
        helper.make_node("Relu", ["c"], ["r"]),
        helper.make_node("Flatten", ["r"], ["features"]),
        helper.make_node("Gemm", ["features", "g", "gb"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["probs"], axis=1),
        helper.make_node("Split", ["logits", "split"], ["head", "tail"], axis=1),
        helper.make_node("Identity", ["x"], ["echo"]),
    ]
    outputs = [
        helper.make_tensor_value_info("probs", TensorProto.FLOAT, [1, 10]),
        helper.make_tensor_value_info("features", TensorProto.FLOAT, [1, 64]),
        helper.make_tensor_value_info("tail", TensorProto.FLOAT, [1, 6]),
        helper.make_tensor_value_info("echo", TensorProto.FLOAT, [1, 3, 8, 8]),
    ]
    graph = helper.make_graph(nodes, "bindings", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
                              outputs, initializer=[w, g, gb, split])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return path


@pytest.fixture(scope="module")
def multi_output_lib(tmp_path_factory):
    d = tmp_path_factory.mktemp("bindings")
    model = build_model(d / "bindings.onnx")
    return model, aotgen.compile(model, output=d / "mlf", prefix="multi").library


def test_signature_lists_every_output_in_model_order(multi_output_lib):
    _, lib = multi_output_lib
    assert [t.name for t in lib.outputs] == ["probs", "features", "tail", "echo"]
    header = lib.header.read_text()
    for t in lib.outputs:
        assert f"  float* {t.c_name};" in header


def test_all_outputs_match_onnxruntime(multi_output_lib):
    model, lib = multi_output_lib
    samples = random_inputs(lib.inputs, 5, seed=11)
    report, actual = check_on_host(lib, samples, run_reference(model, samples))
    assert report.passed, report.to_json()
    # The identity output is a copy of the input, not something merely close to it.
    for sample, outs in zip(samples, actual):
        np.testing.assert_array_equal(outs[3], sample[0])
