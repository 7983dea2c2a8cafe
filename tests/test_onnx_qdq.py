"""ONNX QDQ int8 models compiled to integer kernels (aotgen/qdq.py), checked bit for bit against
onnxruntime, whose CPU EP fuses DequantizeLinear -> Conv/MatMul/Gemm -> QuantizeLinear into
QLinearConv / QLinearMatMul / QGemm and requantizes in float (see aotgen/qdq.py).

Models are built here with onnx.helper from fixed seeds; weights are int8 (per-tensor or
per-channel), activations int8 or uint8, biases int32 at scale x_scale * w_scale."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto
from onnx import helper as h
from onnx import numpy_helper as nh

import aotgen
from aotgen.verify.hostcheck import check_on_host
from aotgen.verify.reference import run_reference
from aotgen.verify.compare import random_inputs

SAMPLES = 24
SEED = 7


class QdqBuilder:
    """A QDQ graph, layer by layer: each layer takes a quantized tensor name and returns one."""

    def __init__(self, seed: int):
        self.rng = np.random.default_rng(seed)
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.n = 0

    def name(self, stem: str) -> str:
        self.n += 1
        return f"{stem}{self.n}"

    def const(self, value: np.ndarray, stem: str) -> str:
        name = self.name(stem)
        self.inits.append(nh.from_array(value, name))
        return name

    def dq(self, q: str, scale, zp, axis: int | None = None) -> str:
        out = self.name("dq")
        kw = {} if axis is None else {"axis": axis}
        self.nodes.append(h.make_node("DequantizeLinear", [q, self.const(np.asarray(scale, np.float32), "s"),
                                                           self.const(np.asarray(zp), "zp")], [out], **kw))
        return out

    def q(self, f: str, scale: float, zp, dtype=np.int8) -> str:
        out = self.name("q")
        self.nodes.append(h.make_node("QuantizeLinear", [f, self.const(np.asarray(scale, np.float32), "s"),
                                                         self.const(np.asarray(zp, dtype), "zp")], [out]))
        return out

    def node(self, op: str, *inputs: str) -> str:
        out = self.name(op.lower())
        self.nodes.append(h.make_node(op, list(inputs), [out]))
        return out

    def weights(self, shape, per_channel: bool, axis: int = 0):
        """int8 weights, zero point 0, and their scale(s)."""
        w = self.rng.integers(-127, 128, size=shape, dtype=np.int8)
        n = shape[axis]
        scales = self.rng.uniform(0.002, 0.02, n if per_channel else ()).astype(np.float32)
        zp = np.zeros(n if per_channel else (), np.int8)
        return self.dq(self.const(w, "w"), scales, zp, axis if per_channel else None), scales

    def bias(self, n: int, x_scale: float, w_scales: np.ndarray) -> str:
        b = self.rng.integers(-3000, 3000, size=n, dtype=np.int32)
        scale = (np.float32(x_scale) * w_scales).astype(np.float32).reshape(-1)
        scale = scale if scale.size > 1 else scale.reshape(())
        return self.dq(self.const(b, "b"), scale, np.zeros(scale.shape, np.int32), 0 if scale.ndim else None)

    def out_scale(self, x_scale: float, w_scales, k: int) -> float:
        """An output scale that spreads the result over the int8 range (about 3 sigma)."""
        return float(np.float32(x_scale * float(np.mean(w_scales)) * 73.0 * 74.0 * np.sqrt(k) * 3 / 127))

    def conv(self, x, xs, xzp, in_c, out_c, k=3, group=1, stride=1, pad=1, per_channel=True, bias=True,
             yzp=-3, in_dtype=np.int8):
        xf = self.dq(x, xs, np.asarray(xzp, in_dtype))
        wf, ws = self.weights((out_c, in_c // group, k, k), per_channel)
        ins = [xf, wf] + ([self.bias(out_c, xs, ws)] if bias else [])
        yf = self.name("conv")
        self.nodes.append(h.make_node("Conv", ins, [yf], group=group, strides=[stride] * 2, pads=[pad] * 4,
                                      kernel_shape=[k, k]))
        ys = self.out_scale(xs, ws, k * k * in_c // group)
        return self.q(yf, ys, yzp), ys, yzp

    def gemm(self, x, xs, xzp, in_c, out_c, per_channel=False, yzp=4, in_dtype=np.int8):
        xf = self.dq(x, xs, np.asarray(xzp, in_dtype))
        wf, ws = self.weights((out_c, in_c), per_channel)
        yf = self.name("gemm")
        self.nodes.append(h.make_node("Gemm", [xf, wf, self.bias(out_c, xs, ws)], [yf], transB=1))
        ys = self.out_scale(xs, ws, in_c)
        return self.q(yf, ys, yzp), ys, yzp

    def matmul(self, x, xs, xzp, in_c, out_c, per_channel=False, yzp=0, in_dtype=np.int8, out_dtype=np.int8):
        xf = self.dq(x, xs, np.asarray(xzp, in_dtype))
        wf, ws = self.weights((in_c, out_c), per_channel, axis=1)
        yf = self.name("matmul")
        self.nodes.append(h.make_node("MatMul", [xf, wf], [yf]))
        ys = self.out_scale(xs, ws, in_c)
        return self.q(yf, ys, yzp, out_dtype), ys, yzp

    def finish(self, path: Path, x: str, x_type, x_shape, y: str, y_type, y_shape) -> Path:
        graph = h.make_graph(self.nodes, path.stem, [h.make_tensor_value_info(x, x_type, x_shape)],
                             [h.make_tensor_value_info(y, y_type, y_shape)], self.inits)
        model = h.make_model(graph, opset_imports=[h.make_opsetid("", 17)], producer_name="aotgen-tests")
        model.ir_version = 8
        onnx.checker.check_model(model)
        onnx.save(model, path)
        return path


def qdq_conv(path: Path) -> Path:
    """Two convolutions, per-channel then per-tensor weights, stride 2, nonzero input zero point."""
    b = QdqBuilder(1)
    y, ys, yzp = b.conv("x", 0.02, 5, 3, 8, stride=2)
    y, _, _ = b.conv(y, ys, yzp, 8, 6, per_channel=False, yzp=-128)
    return b.finish(path, "x", TensorProto.INT8, [1, 3, 12, 12], y, TensorProto.INT8, [1, 6, 6, 6])


def qdq_depthwise(path: Path) -> Path:
    """Depthwise (group = channels) then grouped (2 groups, no bias) convolution."""
    b = QdqBuilder(2)
    y, ys, yzp = b.conv("x", 0.03, -7, 8, 8, group=8)
    y, _, _ = b.conv(y, ys, yzp, 8, 6, group=2, pad=0, bias=False, yzp=10)
    return b.finish(path, "x", TensorProto.INT8, [1, 8, 9, 9], y, TensorProto.INT8, [1, 6, 7, 7])


def qdq_gemm(path: Path) -> Path:
    """Gemm (transB) with per-tensor then per-channel weights."""
    b = QdqBuilder(3)
    y, ys, yzp = b.gemm("x", 0.05, -2, 64, 24)
    y, _, _ = b.gemm(y, ys, yzp, 24, 10, per_channel=True, yzp=-20)
    return b.finish(path, "x", TensorProto.INT8, [1, 64], y, TensorProto.INT8, [1, 10])


def qdq_matmul(path: Path) -> Path:
    """uint8 activations: MatMul on a 3-D input, per-channel weights."""
    b = QdqBuilder(4)
    y, _, _ = b.matmul("x", 0.01, 128, 32, 12, per_channel=True, yzp=120, in_dtype=np.uint8, out_dtype=np.uint8)
    return b.finish(path, "x", TensorProto.UINT8, [1, 5, 32], y, TensorProto.UINT8, [1, 5, 12])


def qdq_residual(path: Path, add: bool = True) -> Path:
    """conv -> Relu between Q/DQ -> conv, and a residual Add of the two convolutions' results:
    Relu and Add stay on the float path, the convolutions are rewritten. Without `add`, the
    second convolution is the output."""
    b = QdqBuilder(5)
    c1, s1, z1 = b.conv("x", 0.02, 0, 4, 8)
    r = b.q(b.node("Relu", b.dq(c1, s1, np.int8(z1))), s1, z1)
    c2, s2, z2 = b.conv(r, s1, z1, 8, 8, yzp=-5)
    y = b.q(b.node("Add", b.dq(c1, s1, np.int8(z1)), b.dq(c2, s2, np.int8(z2))), 2 * max(s1, s2), 0) if add else c2
    return b.finish(path, "x", TensorProto.INT8, [1, 4, 8, 8], y, TensorProto.INT8, [1, 8, 8, 8])


def qdq_relu_conv(path: Path) -> Path:
    return qdq_residual(path, add=False)


def qdq_shared_conv(path: Path) -> Path:
    """A convolution whose float result feeds its Q and a float Relu: ORT does not fuse it, and
    neither do we."""
    b = QdqBuilder(6)
    c, s, z = b.conv("x", 0.02, 1, 4, 8)
    conv = b.nodes[-2].output[0]  # the float Conv before its Q
    y = b.q(b.node("Add", b.dq(c, s, np.int8(z)), b.node("Relu", conv)), 2 * s, 0)
    return b.finish(path, "x", TensorProto.INT8, [1, 4, 6, 6], y, TensorProto.INT8, [1, 8, 6, 6])


EXACT = {"qdq_conv": qdq_conv, "qdq_depthwise": qdq_depthwise, "qdq_gemm": qdq_gemm, "qdq_matmul": qdq_matmul,
         "qdq_relu_conv": qdq_relu_conv}
KERNEL_COUNT = {"qdq_conv": 2, "qdq_depthwise": 2, "qdq_gemm": 2, "qdq_matmul": 1, "qdq_relu_conv": 2,
                "qdq_residual": 2, "qdq_shared_conv": 0}


def _compile(builder, tmp_path: Path):
    path = builder(tmp_path / f"{builder.__name__}.onnx")
    return path, aotgen.compile(path, tmp_path / "mlf").library


def _kernel_bodies(lib) -> dict[str, str]:
    """The generated QLinearConv / QLinearMatMul functions, by name."""
    text = "\n".join(f.read_text() for f in lib.sources)
    return {m.group(1): m.group(0) for m in re.finditer(r"static void \w+?_(\w*qlinear(?:conv|matmul)\w*)\(.*?\n}\n", text, re.S)}


def _check(path: Path, lib, tmp_path: Path, atol: int) -> None:
    samples = random_inputs(lib.inputs, SAMPLES, seed=SEED)
    reference = run_reference(path, samples)
    assert len({r[0].tobytes() for r in reference}) > 1, "the inputs do not change the output"
    report, outputs = check_on_host(lib, samples, reference, atol=atol, workdir=tmp_path)
    worst = max(int(np.abs(o[0].astype(int) - r[0].astype(int)).max()) for o, r in zip(outputs, reference))
    assert report.passed and worst <= atol, f"max error {worst} LSB (bound {atol})"


def _check_kernels(name: str, lib) -> None:
    bodies = _kernel_bodies(lib)
    assert len(bodies) == KERNEL_COUNT[name], sorted(bodies)
    for kernel, body in bodies.items():
        if "dequantize" in kernel:
            continue  # fused with a float-path consumer (the residual Add), which computes in float
        assert not re.search(r"\b(float|double)\b", body), f"{kernel} computes in float:\n{body}"
    assert all("int64_t" not in f.read_text() for f in lib.sources)


@pytest.mark.parametrize("name", list(EXACT))
def test_rewritten_models_are_bit_exact(name: str, tmp_path: Path) -> None:
    path, lib = _compile(EXACT[name], tmp_path)
    _check_kernels(name, lib)
    _check(path, lib, tmp_path, atol=0)


def test_float_path_ops_keep_their_bound(tmp_path: Path) -> None:
    """The residual Add stays fake-quant float (ORT's QLinearAdd rounds differently): the model's
    output holds test_correctness's 2 LSB; both convolutions are integer kernels."""
    path, lib = _compile(qdq_residual, tmp_path)
    _check_kernels("qdq_residual", lib)
    _check(path, lib, tmp_path, atol=2)


def test_conv_with_a_float_consumer_stays_float(tmp_path: Path) -> None:
    path, lib = _compile(qdq_shared_conv, tmp_path)
    _check_kernels("qdq_shared_conv", lib)
    _check(path, lib, tmp_path, atol=2)


def test_qdq_cnn_keeps_int8_weights(tmp_path: Path) -> None:
    """onnx_builders' QDQ CNN: constants are the int8 weights and int32 biases as stored."""
    import onnx_builders

    path, lib = _compile(onnx_builders.tiny_cnn_qdq_int8, tmp_path)
    inits = [nh.to_array(i) for i in onnx.load(path).graph.initializer]
    stored = sum(a.nbytes for a in inits if a.dtype in (np.int8, np.int32) and a.size > 1)
    assert lib.metadata["constant_bytes"] <= 1.05 * stored, (lib.metadata["constant_bytes"], stored)
    assert len(_kernel_bodies(lib)) == 3


def test_requantize_helper_matches_float32(tmp_path: Path) -> None:
    """The C helper against numpy's float32 `rint(float32(acc) * scale)` (what MLAS computes),
    on accumulators beyond 2^24, near-ties, and scales from tiny to above 1."""
    from aotgen.compiler import c_helpers
    from aotgen.compiler.qdq import pack_scale

    rng = np.random.default_rng(SEED)
    scales = np.concatenate([rng.uniform(1e-6, 1e-2, 40), rng.uniform(0.01, 2.0, 20), [2.0**-20, 0.5, 1.0, 3.0]])
    scales = scales.astype(np.float32)
    accs = np.concatenate([rng.integers(-2**31, 2**31, 300), rng.integers(-70000, 70000, 300),
                           [0, 1, -1, 2**24 + 1, 2**24 + 3, -(2**31), 2**31 - 1, 2**25 + 2]]).astype(np.int32)
    pairs = [(int(a), s) for s in scales for a in accs]
    pairs += [(int(np.rint((k + 0.5) / s)) + d, s) for s in scales[:20] for k in range(-130, 130, 7) for d in (-1, 0, 1)]
    pairs = [(a, s) for a, s in pairs if -(2**31) <= a < 2**31]
    src = c_helpers.used_by("aotgen_requantize_float", "aotgen")
    main = tmp_path / "t.c"
    main.write_text("#include <stdint.h>\n#include <stdbool.h>\n#include <stdio.h>\n" + src + """
int main(void) { long a, p; while (scanf("%ld %ld", &a, &p) == 2) printf("%ld\\n", (long)aotgen_requantize_float((int32_t)a, (int32_t)p)); return 0; }
""")
    exe = tmp_path / "t"
    subprocess.run(["gcc", "-O1", "-Wall", "-Werror", str(main), "-o", str(exe)], check=True)
    stdin = "".join(f"{a} {pack_scale(s)}\n" for a, s in pairs)
    got = np.array(subprocess.run([str(exe)], input=stdin, capture_output=True, text=True, check=True).stdout.split(), np.int64)
    want = np.array([np.rint(np.float32(a) * s) for a, s in pairs], np.float64)
    big = np.abs(want) >= 2**20  # the helper saturates far outside any int8 result
    assert np.array_equal(got[~big], want[~big].astype(np.int64))
    assert np.all(np.abs(got[big]) >= 2**20) and np.all(np.sign(got[big]) == np.sign(want[big]))
