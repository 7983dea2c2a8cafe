"""ONNX models built from scratch with onnx.helper (fixed-seed weights), so the ONNX path is
tested without shipping model files: a small CNN, its QDQ int8 variant (quantized by
onnxruntime's own static quantizer), a two-input model with awkward tensor names, and a model
with an operator TVM cannot import."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto
from onnx import helper as h
from onnx import numpy_helper as nh

OPSET = 17
CNN_INPUT_SHAPE = [1, 3, 16, 16]


def _finish(graph: onnx.GraphProto, path: Path) -> Path:
    model = h.make_model(graph, opset_imports=[h.make_opsetid("", OPSET)], producer_name="aotgen-tests")
    model.ir_version = 8  # readable by every onnxruntime >= 1.18
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return path


def tiny_cnn(path: Path, seed: int = 0) -> Path:
    """conv-relu-maxpool, conv-relu-avgpool, flatten, gemm, softmax; returns logits and probs
    (two outputs: a Relax tuple)."""
    rng = np.random.default_rng(seed)

    def w(name: str, *shape: int, std: float) -> onnx.TensorProto:
        return nh.from_array(rng.normal(0.0, std, shape).astype(np.float32), name)

    inits = [
        w("conv1_w", 8, 3, 3, 3, std=0.3), w("conv1_b", 8, std=0.1),
        w("conv2_w", 16, 8, 3, 3, std=0.15), w("conv2_b", 16, std=0.1),
        w("fc_w", 10, 16 * 4 * 4, std=0.1), w("fc_b", 10, std=0.1),
        nh.from_array(np.array([1, -1], np.int64), "flat_shape"),
    ]
    nodes = [
        h.make_node("Conv", ["x", "conv1_w", "conv1_b"], ["c1"], name="conv1", pads=[1, 1, 1, 1]),
        h.make_node("Relu", ["c1"], ["r1"], name="relu1"),
        h.make_node("MaxPool", ["r1"], ["p1"], name="maxpool1", kernel_shape=[2, 2], strides=[2, 2]),
        h.make_node("Conv", ["p1", "conv2_w", "conv2_b"], ["c2"], name="conv2", pads=[1, 1, 1, 1]),
        h.make_node("Relu", ["c2"], ["r2"], name="relu2"),
        h.make_node("AveragePool", ["r2"], ["p2"], name="avgpool2", kernel_shape=[2, 2], strides=[2, 2]),
        h.make_node("Reshape", ["p2", "flat_shape"], ["flat"], name="flatten"),
        h.make_node("Gemm", ["flat", "fc_w", "fc_b"], ["logits"], name="fc", transB=1),
        h.make_node("Softmax", ["logits"], ["probs"], name="softmax", axis=-1),
    ]
    graph = h.make_graph(
        nodes, "tiny_cnn", [h.make_tensor_value_info("x", TensorProto.FLOAT, CNN_INPUT_SHAPE)],
        [h.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 10]),
         h.make_tensor_value_info("probs", TensorProto.FLOAT, [1, 10])],
        inits,
    )
    return _finish(graph, path)


def tiny_cnn_qdq_int8(path: Path, seed: int = 0) -> Path:
    """tiny_cnn with one output, statically quantized to QDQ int8 by onnxruntime (seeded
    calibration data), then given int8 input and output so it can be judged in LSB."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    float_path = path.with_name(path.stem + "_float.onnx")
    tiny_cnn(float_path, seed)
    single = onnx.load(float_path)
    out = [o for o in single.graph.output if o.name == "probs"]
    del single.graph.output[:]
    single.graph.output.extend(out)
    onnx.save(single, float_path)

    class Calibration(CalibrationDataReader):
        def __init__(self) -> None:
            rng = np.random.default_rng(seed + 1)
            self.batches = iter([{"x": rng.uniform(-1, 1, CNN_INPUT_SHAPE).astype(np.float32)} for _ in range(16)])

        def get_next(self) -> dict | None:
            return next(self.batches, None)

    qdq_path = path.with_name(path.stem + "_qdq_float_io.onnx")
    quantize_static(str(float_path), str(qdq_path), Calibration(), quant_format=QuantFormat.QDQ,
                    activation_type=QuantType.QInt8, weight_type=QuantType.QInt8, per_channel=False)
    model = _int8_io(onnx.load(qdq_path))
    onnx.save(model, path)
    return path


def _int8_io(model: onnx.ModelProto) -> onnx.ModelProto:
    """Drop the QuantizeLinear on the input and the DequantizeLinear on the output: the model
    then takes and returns int8, like a fully quantized TFLite model."""
    g = model.graph
    (x,), (y,) = g.input, g.output
    q_in = next(n for n in g.node if n.op_type == "QuantizeLinear" and n.input[0] == x.name)
    dq_out = next(n for n in g.node if n.op_type == "DequantizeLinear" and n.output[0] == y.name)
    dims_in = [d.dim_value for d in x.type.tensor_type.shape.dim]
    dims_out = [d.dim_value for d in y.type.tensor_type.shape.dim]
    g.node.remove(q_in)
    g.node.remove(dq_out)
    del g.input[:]
    del g.output[:]
    g.input.append(h.make_tensor_value_info(q_in.output[0], TensorProto.INT8, dims_in))
    g.output.append(h.make_tensor_value_info(dq_out.input[0], TensorProto.INT8, dims_out))
    onnx.checker.check_model(model)
    return model


def two_inputs(path: Path, seed: int = 0) -> Path:
    """Two inputs whose names are not C identifiers, a concat, a view (reshape) and two outputs,
    one of them a pure view of an intermediate."""
    rng = np.random.default_rng(seed)
    inits = [
        nh.from_array(rng.normal(0, 0.3, (12, 16)).astype(np.float32), "w"),
        nh.from_array(rng.normal(0, 0.1, (12,)).astype(np.float32), "b"),
        nh.from_array(np.array([1, 3, 4], np.int64), "shape3"),
    ]
    nodes = [
        h.make_node("Concat", ["input.a", "input:b"], ["cat"], name="concat", axis=1),
        h.make_node("Gemm", ["cat", "w", "b"], ["fc"], name="fc", transB=1),
        h.make_node("Tanh", ["fc"], ["act"], name="tanh"),
        h.make_node("Reshape", ["act", "shape3"], ["out/view:0"], name="view"),
        h.make_node("Mul", ["act", "act"], ["out.square"], name="square"),
    ]
    graph = h.make_graph(
        nodes, "two_inputs",
        [h.make_tensor_value_info("input.a", TensorProto.FLOAT, [1, 10]),
         h.make_tensor_value_info("input:b", TensorProto.FLOAT, [1, 6])],
        [h.make_tensor_value_info("out/view:0", TensorProto.FLOAT, [1, 3, 4]),
         h.make_tensor_value_info("out.square", TensorProto.FLOAT, [1, 12])],
        inits,
    )
    return _finish(graph, path)


def unsupported_op(path: Path) -> Path:
    """A valid ONNX model whose second node (LpNormalization) aotgen refuses."""
    nodes = [
        h.make_node("Relu", ["x"], ["r"], name="relu_0"),
        h.make_node("LpNormalization", ["r"], ["y"], name="lpnorm_1", axis=-1, p=2),
    ]
    graph = h.make_graph(nodes, "unsupported", [h.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8])],
                         [h.make_tensor_value_info("y", TensorProto.FLOAT, [1, 8])])
    return _finish(graph, path)
