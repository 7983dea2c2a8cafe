"""One int8 operator per model, TFLite Micro style: each model is built from scratch
(tests/tflite_builder.py), compiled with `aotgen.compile`, run on the host and compared with
ai-edge-litert's reference kernels (BUILTIN_REF), run live, on >= 20 seeded inputs.

The bound is 0 LSB everywhere, softmax included. Every int8 library must also be free of float
arithmetic: the generated C may not mention `float` or `double` (only models with a float
interface, QUANTIZE/DEQUANTIZE at their edges, and the float builder check are exempt).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

import aotgen
from aotgen.errors import UnsupportedModelError
from aotgen.verify.hostcheck import build_host_executable
from aotgen.verify.reference import run_reference
from tflite_builder import NONE, RELU, RELU6, SAME, VALID, ModelSpec, bias_int32, output_scale_for, \
    symmetric_int8, weight_scales

SAMPLES = 24
FLOAT_WORDS = re.compile(r"\b(float|double)\b")


def uniform_int8(rng: np.random.Generator, shape, lo: int = -128, hi: int = 127) -> np.ndarray:
    return rng.integers(lo, hi, size=shape, endpoint=True, dtype=np.int8)


def check_exact(spec: ModelSpec, outputs: list[int], tmp_path: Path, make_input=None, seed: int = 0,
                integer_only: bool = True, backend: str = "c", target: str = "host") -> list[list[np.ndarray]]:
    """Compile, run on the host, and demand bit-exact equality with LiteRT's reference kernels.

    Returns the reference outputs, so a test can check its inputs exercised the operator."""
    path = tmp_path / "model.tflite"
    path.write_bytes(spec.to_bytes(outputs))
    lib = aotgen.compile(path, tmp_path / "mlf", backend=backend, target=target).library
    rng = np.random.default_rng(seed)
    make_input = make_input or (lambda t: uniform_int8(rng, t.shape) if t.dtype == "int8"
                                else rng.uniform(-1, 1, t.shape).astype(t.dtype))
    samples = [[make_input(t) for t in lib.inputs] for _ in range(SAMPLES)]
    reference = run_reference(path, samples)
    got = build_host_executable(lib, tmp_path).run(samples)
    for i, (g, r) in enumerate(zip(got, reference)):
        for k, (a, e) in enumerate(zip(g, r)):
            e = e.reshape(a.shape)
            diff = np.abs(a.astype(np.int64) - e.astype(np.int64)) if a.dtype.kind in "iu" else np.abs(a - e)
            assert diff.max(initial=0) == 0, (
                f"sample {i} output {k}: {int((diff > 0).sum())} of {diff.size} elements differ, max {diff.max()}\n"
                f"got      {a.ravel()[:16]}\nexpected {e.ravel()[:16]}")
    # Vacuous-pass guards: the outputs must vary between samples and not be all clamped.
    first = reference[0][0]
    assert any(not np.array_equal(first, r[0]) for r in reference[1:]), "every sample gives the same output"
    if integer_only:
        source = "".join(Path(s).read_text() for s in lib.sources)
        assert not FLOAT_WORDS.search(source), f"float arithmetic in an int8 library: {FLOAT_WORDS.search(source)}"
    return reference


def mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def saturated_fraction(reference: list[list[np.ndarray]], lo: int = -128, hi: int = 127) -> float:
    out = np.concatenate([r[0].ravel() for r in reference])
    return float(np.mean((out <= lo) | (out >= hi)))


# ------------------------------------------------------------------------------------ CONV_2D


def conv_model(rng, *, in_shape, out_c, kernel, padding, stride, dilation, per_channel, activation,
               depth_multiplier=None, scales=None, bias_magnitude=20000, zero_channels=()) -> tuple[ModelSpec, int]:
    n, h, w, c = in_shape
    kh, kw = kernel
    s_in, zp_in = 0.05, -7
    depthwise = depth_multiplier is not None
    out_c = c * depth_multiplier if depthwise else out_c
    ws = weight_scales(rng, out_c, per_channel) if scales is None else np.asarray(scales, np.float32)
    w_shape = [1, kh, kw, out_c] if depthwise else [out_c, kh, kw, c]
    weights = symmetric_int8(rng, w_shape)
    for ch in zero_channels:  # pruned channels: all-zero weights, a constant output
        if depthwise:
            weights[..., ch] = 0
        else:
            weights[ch] = 0
    eff_h, eff_w = dilation[0] * (kh - 1) + 1, dilation[1] * (kw - 1) + 1
    if padding == SAME:
        oh, ow = -(-h // stride[0]), -(-w // stride[1])
    else:
        oh, ow = (h - eff_h) // stride[0] + 1, (w - eff_w) // stride[1] + 1
    taps = kh * kw * (1 if depthwise else c)
    s_out = output_scale_for(s_in, ws, taps)
    m = ModelSpec()
    x = m.input("x", in_shape, "int8", s_in, zp_in)
    wt = m.const("w", weights, ws, 0, quantized_dimension=3 if depthwise else 0)
    b = m.const("b", bias_int32(rng, out_c, bias_magnitude), s_in * ws, 0)
    y = m.activation("y", [n, oh, ow, out_c], "int8", s_out, 3)
    common = dict(Padding=padding, StrideH=stride[0], StrideW=stride[1], DilationHFactor=dilation[0],
                  DilationWFactor=dilation[1], FusedActivationFunction=activation)
    if depthwise:
        m.op("DEPTHWISE_CONV_2D", [x, wt, b], [y], "DepthwiseConv2DOptions", version=3,
             DepthMultiplier=depth_multiplier, **common)
    else:
        m.op("CONV_2D", [x, wt, b], [y], "Conv2DOptions", version=3, **common)
    return m, y


CONV_CASES = {
    "same_s1_perchannel_none": dict(padding=SAME, stride=(1, 1), dilation=(1, 1), per_channel=True, activation=NONE),
    "valid_s1_pertensor_none": dict(padding=VALID, stride=(1, 1), dilation=(1, 1), per_channel=False, activation=NONE),
    "same_s2_perchannel_relu": dict(padding=SAME, stride=(2, 2), dilation=(1, 1), per_channel=True, activation=RELU),
    "valid_s2_pertensor_relu6": dict(padding=VALID, stride=(2, 1), dilation=(1, 1), per_channel=False, activation=RELU6),
    "same_dilation2_perchannel_relu6": dict(padding=SAME, stride=(1, 1), dilation=(2, 2), per_channel=True, activation=RELU6),
    "valid_dilation2_pertensor_relu": dict(padding=VALID, stride=(1, 1), dilation=(2, 1), per_channel=False, activation=RELU),
}


@pytest.mark.parametrize("case", CONV_CASES)
def test_conv_2d(case, tmp_path):
    rng = np.random.default_rng(list(CONV_CASES).index(case))
    m, y = conv_model(rng, in_shape=[1, 9, 10, 5], out_c=6, kernel=(3, 3), **CONV_CASES[case])
    ref = check_exact(m, [y], tmp_path)
    assert saturated_fraction(ref) < 0.5 or CONV_CASES[case]["activation"] != NONE


@pytest.mark.parametrize("case", CONV_CASES)
def test_conv_2d_through_the_gemm_kernel(case, tmp_path):
    """The C a DSP core gets (the im2col GEMM kernel, runtime/aotgen_conv_gemm_s8.h), built and run on the host:
    its portable path, with this core's constants (folded bias, packed requantization)."""
    rng = np.random.default_rng(list(CONV_CASES).index(case))
    m, y = conv_model(rng, in_shape=[1, 9, 10, 5], out_c=6, kernel=(3, 3), **CONV_CASES[case])
    check_exact(m, [y], tmp_path, target="cortex-m4")
    assert "model_conv_gemm_s8(" in (tmp_path / "mlf" / "codegen" / "host" / "src" / "model_lib0.c").read_text()


def test_conv_2d_pointwise_and_5x5(tmp_path):
    rng = np.random.default_rng(1)
    m, y = conv_model(rng, in_shape=[1, 6, 6, 16], out_c=8, kernel=(1, 1), padding=VALID, stride=(1, 1),
                      dilation=(1, 1), per_channel=True, activation=NONE)
    check_exact(m, [y], mkdir(tmp_path / "1x1"))
    m, y = conv_model(rng, in_shape=[1, 12, 7, 2], out_c=3, kernel=(5, 4), padding=SAME, stride=(2, 3),
                      dilation=(1, 1), per_channel=True, activation=NONE)
    check_exact(m, [y], mkdir(tmp_path / "5x4"))


def test_grouped_conv_2d(tmp_path):
    """Filter depth 2 on 6 input channels: 3 groups of 4 output channels."""
    rng = np.random.default_rng(6)
    s_in = 0.05
    ws = weight_scales(rng, 12, True)
    m = ModelSpec()
    x = m.input("x", [1, 6, 6, 6], "int8", s_in, -2)
    y = m.activation("y", [1, 6, 6, 12], "int8", output_scale_for(s_in, ws, 18), 3)
    m.op("CONV_2D", [x, m.const("w", symmetric_int8(rng, [12, 3, 3, 2]), ws, 0),
                     m.const("b", bias_int32(rng, 12), s_in * ws, 0)], [y], "Conv2DOptions", version=6,
         Padding=SAME, StrideH=1, StrideW=1, DilationHFactor=1, DilationWFactor=1, FusedActivationFunction=NONE)
    check_exact(m, [y], tmp_path)


# How aotgen stores a layer's bias and requantization tables (aotgen.quantized.requant_tables):
# each encoding must stay exact. Pruned channels (all-zero weights) are folded to constants.
ENCODING_CASES = {
    "scalar": dict(scales=[0.01] * 6),
    "packed_int16_bias": dict(scales=np.geomspace(0.004, 0.03, 6)),
    "arrays_int32_bias": dict(scales=np.geomspace(1e-4, 0.03, 6), bias_magnitude=100000),
    "pruned_channels_packed": dict(scales=[0.01, 1e-9, 0.012, 0.02, 1e-7, 0.015], zero_channels=(1, 4)),
}


@pytest.mark.parametrize("case", ENCODING_CASES)
def test_conv_2d_requantization_encodings(case, tmp_path):
    from aotgen.compiler.quantized import output_requant_params, requant_tables

    rng = np.random.default_rng(list(ENCODING_CASES).index(case) + 50)
    m, y = conv_model(rng, in_shape=[1, 7, 7, 3], out_c=6, kernel=(3, 3), padding=SAME, stride=(1, 1),
                      dilation=(1, 1), per_channel=True, activation=NONE, **ENCODING_CASES[case])
    w, b = m.tensors[1], m.tensors[2]
    bias, rq = requant_tables(w.data, 0, b.data, *output_requant_params(
        np.float32(0.05), w.scale, m.tensors[y].scale[0], 6))
    assert rq.kind == case.split("_")[-1] if case.startswith("pruned") else rq.kind == case.split("_")[0]
    if "bias" in case:
        assert bias.dtype == (np.int32 if "int32" in case else np.int16)
    check_exact(m, [y], tmp_path)


@pytest.mark.parametrize("op", ["CONV_2D", "FULLY_CONNECTED"])
def test_requantization_multiplier_above_one(op, tmp_path):
    """Output scale below input scale x weight scale: the requantization shifts left (shift > 0)
    before the fixed-point multiply (double rounding for conv, single for FC)."""
    rng = np.random.default_rng(4)
    s_in, ws = 0.05, np.array([0.04, 0.03, 0.05], np.float32)
    m = ModelSpec()
    shape = [1, 3, 3, 1] if op == "CONV_2D" else [2, 1]
    x = m.input("x", shape, "int8", s_in, 0)
    w = m.const("w", rng.integers(-4, 5, [3, 1, 1, 1] if op == "CONV_2D" else [3, 1]).astype(np.int8), ws, 0)
    b = m.const("b", rng.integers(-20, 20, 3).astype(np.int32), s_in * ws, 0)
    out_shape = [1, 3, 3, 3] if op == "CONV_2D" else [2, 3]
    y = m.activation("y", out_shape, "int8", float(s_in * ws.max() / 2.7), 1)  # multipliers 1.6 .. 2.7
    if op == "CONV_2D":
        m.op(op, [x, w, b], [y], "Conv2DOptions", version=3, Padding=VALID, StrideH=1, StrideW=1, DilationHFactor=1,
             DilationWFactor=1, FusedActivationFunction=NONE)
    else:
        m.op(op, [x, w, b], [y], "FullyConnectedOptions", version=5, FusedActivationFunction=NONE)
    check_exact(m, [y], tmp_path, make_input=lambda t: rng.integers(-12, 13, t.shape).astype(np.int8))


@pytest.mark.parametrize("depth_multiplier", [1, 2])
@pytest.mark.parametrize("padding,stride,activation,per_channel",
                         [(SAME, (1, 1), NONE, True), (VALID, (2, 2), RELU6, True), (SAME, (2, 1), RELU, False)])
def test_depthwise_conv_2d(depth_multiplier, padding, stride, activation, per_channel, tmp_path):
    rng = np.random.default_rng(depth_multiplier * 10 + stride[0])
    m, y = conv_model(rng, in_shape=[1, 8, 9, 4], out_c=None, kernel=(3, 3), padding=padding, stride=stride,
                      dilation=(1, 1), per_channel=per_channel, activation=activation, depth_multiplier=depth_multiplier)
    check_exact(m, [y], tmp_path)


@pytest.mark.parametrize("depthwise", [True, False])
def test_tap_loops_clipped_to_the_image(depthwise, tmp_path):
    """Kernels whose innermost loop runs over filter taps (depthwise; a single input channel) test
    padding on the tap itself. The lowering turns a unit-step test into loop bounds (the depthwise
    cases above cover both edges); a dilated tap keeps its test. Both must stay exact."""
    rng = np.random.default_rng(17 + depthwise)
    in_shape = [1, 9, 11, 3] if depthwise else [1, 13, 11, 1]
    m, y = conv_model(rng, in_shape=in_shape, out_c=None if depthwise else 4, kernel=(3, 4), padding=SAME,
                      stride=(2, 1) if depthwise else (2, 2), dilation=(2, 3), per_channel=True, activation=NONE,
                      depth_multiplier=1 if depthwise else None)
    check_exact(m, [y], tmp_path)


@pytest.mark.parametrize("padding,stride,kernel,in_hw,with_bias,activation", [
    (SAME, (2, 2), (3, 3), (4, 5), True, NONE),    # 2x upsampling
    (VALID, (2, 2), (3, 3), (4, 4), True, RELU),
    (SAME, (1, 1), (3, 3), (5, 5), False, NONE),
    (VALID, (3, 2), (2, 4), (3, 4), True, RELU6),
    (SAME, (2, 2), (4, 4), (3, 3), True, NONE),    # even kernel: odd total padding
])
def test_transpose_conv(padding, stride, kernel, in_hw, with_bias, activation, tmp_path):
    rng = np.random.default_rng(sum(kernel) + stride[0])
    in_c, out_c = 4, 5
    h, w = in_hw
    if padding == SAME:
        oh, ow = h * stride[0], w * stride[1]
    else:
        oh, ow = (h - 1) * stride[0] + kernel[0], (w - 1) * stride[1] + kernel[1]
    s_in = 0.05
    ws = weight_scales(rng, out_c, True)
    m = ModelSpec()
    shape = m.const("output_shape", np.array([1, oh, ow, out_c], np.int32))
    wt = m.const("w", symmetric_int8(rng, [out_c, *kernel, in_c]), ws, 0)
    x = m.input("x", [1, h, w, in_c], "int8", s_in, -5)
    ins = [shape, wt, x] + ([m.const("b", bias_int32(rng, out_c), s_in * ws, 0)] if with_bias else [])
    taps = max(1, kernel[0] * kernel[1] // (stride[0] * stride[1])) * in_c
    y = m.activation("y", [1, oh, ow, out_c], "int8", output_scale_for(s_in, ws, taps), 2)
    m.op("TRANSPOSE_CONV", ins, [y], "TransposeConvOptions", version=4, Padding=padding, StrideH=stride[0],
         StrideW=stride[1], FusedActivationFunction=activation)
    check_exact(m, [y], tmp_path)


@pytest.mark.parametrize("lhs_shape,rhs_shape,adj_x,adj_y,out_shape,const_rhs", [
    ([2, 5, 8], [2, 8, 6], False, False, [2, 5, 6], False),
    ([2, 8, 5], [6, 8], True, True, [2, 5, 6], True),       # transposed operands, a constant rhs
    ([3, 1, 4, 7], [1, 2, 7, 5], False, False, [3, 2, 4, 5], False),  # broadcast batch
])
def test_batch_matmul(lhs_shape, rhs_shape, adj_x, adj_y, out_shape, const_rhs, tmp_path):
    """Attention's matrix products (int8 transformers): both operands quantized per tensor."""
    rng = np.random.default_rng(len(lhs_shape) + adj_x)
    s_l, s_r = 0.05, 0.03
    depth = lhs_shape[-2] if adj_x else lhs_shape[-1]
    m = ModelSpec()
    a = m.input("a", lhs_shape, "int8", s_l, 5)
    b = (m.const("b", rng.integers(-127, 128, rhs_shape).astype(np.int8), s_r, -3) if const_rhs
         else m.input("b", rhs_shape, "int8", s_r, -3))
    y = m.activation("y", out_shape, "int8", output_scale_for(s_l, np.array([s_r]), depth), 2)
    m.op("BATCH_MATMUL", [a, b], [y], "BatchMatMulOptions", version=4, AdjX=adj_x, AdjY=adj_y)
    check_exact(m, [y], tmp_path)


# ---------------------------------------------------------------------------- FULLY_CONNECTED


def fc_model(rng, *, in_shape, out_c, per_channel, activation, keep_num_dims=False):
    in_c = in_shape[-1]
    s_in, zp_in = 0.04, 11
    ws = weight_scales(rng, out_c, per_channel)
    s_out = output_scale_for(s_in, ws, in_c)
    out_shape = in_shape[:-1] + [out_c] if keep_num_dims else [int(np.prod(in_shape[:-1])), out_c]
    m = ModelSpec()
    x = m.input("x", in_shape, "int8", s_in, zp_in)
    w = m.const("w", symmetric_int8(rng, [out_c, in_c]), ws, 0)
    b = m.const("b", bias_int32(rng, out_c), s_in * ws, 0)
    y = m.activation("y", out_shape, "int8", s_out, -4)
    m.op("FULLY_CONNECTED", [x, w, b], [y], "FullyConnectedOptions", version=5,
         FusedActivationFunction=activation, KeepNumDims=keep_num_dims)
    return m, y


@pytest.mark.parametrize("in_shape,keep,per_channel,activation", [
    ([1, 40], False, False, NONE),
    ([3, 40], False, False, RELU),       # batch > 1
    ([1, 2, 3, 16], True, False, RELU6),  # keep_num_dims
    ([4, 24], False, True, NONE),        # per-channel weights
])
def test_fully_connected(in_shape, keep, per_channel, activation, tmp_path):
    rng = np.random.default_rng(len(in_shape) * 7 + in_shape[0])
    m, y = fc_model(rng, in_shape=in_shape, out_c=12, per_channel=per_channel, activation=activation, keep_num_dims=keep)
    check_exact(m, [y], tmp_path)


# ------------------------------------------------------------------------------------- ADD


@pytest.mark.parametrize("activation", [NONE, RELU, RELU6])
def test_add(activation, tmp_path):
    m = ModelSpec()
    shape = [1, 5, 6, 7]
    a = m.input("a", shape, "int8", 0.07, -10)
    b = m.input("b", shape, "int8", 0.031, 20)
    y = m.activation("y", shape, "int8", 0.09, 4)
    m.op("ADD", [a, b], [y], "AddOptions", version=2, FusedActivationFunction=activation)
    check_exact(m, [y], tmp_path, seed=activation)


@pytest.mark.parametrize("shape_a,shape_b,shape_y", [
    ([1, 5, 6, 7], [1, 1, 1, 7], [1, 5, 6, 7]),   # per-channel offset
    ([1, 5, 1, 7], [1, 1, 6, 1], [1, 5, 6, 7]),   # both sides broadcast
    ([7], [2, 3, 7], [2, 3, 7]),                  # lower rank
])
def test_add_broadcasting(shape_a, shape_b, shape_y, tmp_path):
    m = ModelSpec()
    a = m.input("a", shape_a, "int8", 0.05, 3)
    b = m.input("b", shape_b, "int8", 0.08, -6)
    y = m.activation("y", shape_y, "int8", 0.1, -1)
    m.op("ADD", [a, b], [y], "AddOptions", version=2, FusedActivationFunction=RELU6)
    check_exact(m, [y], tmp_path)


@pytest.mark.parametrize("op", ["ADD", "SUB", "MUL"])
def test_binary_op_without_options(op, tmp_path):
    """An absent options table means no fused activation (the schema default)."""
    m = ModelSpec()
    a = m.input("a", [2, 9], "int8", 0.05, 3)
    b = m.input("b", [2, 9], "int8", 0.04, -2)
    y = m.activation("y", [2, 9], "int8", 0.08, 1)
    m.op(op, [a, b], [y], version=2)
    check_exact(m, [y], tmp_path)


@pytest.mark.parametrize("alpha_shape", [[1, 1, 6], [6]])
def test_prelu(alpha_shape, tmp_path):
    rng = np.random.default_rng(len(alpha_shape))
    m = ModelSpec()
    x = m.input("x", [1, 4, 5, 6], "int8", 0.05, -4)
    alpha = m.const("alpha", rng.integers(-128, 127, alpha_shape).astype(np.int8), 0.004, -10)
    y = m.activation("y", [1, 4, 5, 6], "int8", 0.04, -30)
    m.op("PRELU", [x, alpha], [y])
    check_exact(m, [y], tmp_path)


def test_add_constant_operand(tmp_path):
    m = ModelSpec()
    a = m.input("a", [1, 4, 4, 3], "int8", 0.05, 3)
    b = m.const("b", np.array([[[[-100, 0, 90]]]], np.int8), 0.02, 5)
    y = m.activation("y", [1, 4, 4, 3], "int8", 0.06, 0)
    m.op("ADD", [a, b], [y], "AddOptions", version=2, FusedActivationFunction=NONE)
    check_exact(m, [y], tmp_path)


@pytest.mark.parametrize("shape_b,activation", [([1, 5, 6, 7], NONE), ([1, 1, 1, 7], RELU)])
def test_sub(shape_b, activation, tmp_path):
    m = ModelSpec()
    a = m.input("a", [1, 5, 6, 7], "int8", 0.05, 3)
    b = m.input("b", shape_b, "int8", 0.08, -6)
    y = m.activation("y", [1, 5, 6, 7], "int8", 0.1, -1)
    m.op("SUB", [a, b], [y], "SubOptions", version=2, FusedActivationFunction=activation)
    check_exact(m, [y], tmp_path)


@pytest.mark.parametrize("shape_b,scale_b", [([2, 3, 8], 0.04), ([2, 3, 1], 0.09)])
def test_squared_difference(shape_b, scale_b, tmp_path):
    """The variance step of an int8 LayerNorm (x - mean)^2."""
    m = ModelSpec()
    a = m.input("a", [2, 3, 8], "int8", 0.05, 3)
    b = m.input("b", shape_b, "int8", scale_b, -6)
    y = m.activation("y", [2, 3, 8], "int8", 0.15, -128)
    m.op("SQUARED_DIFFERENCE", [a, b], [y])
    rng = np.random.default_rng(len(shape_b))
    check_exact(m, [y], tmp_path, make_input=lambda t: uniform_int8(rng, t.shape, -60, 60))


@pytest.mark.parametrize("shape_b,activation", [([2, 3, 8], NONE), ([8], RELU6), ([2, 1, 8], RELU)])
def test_mul(shape_b, activation, tmp_path):
    m = ModelSpec()
    a = m.input("a", [2, 3, 8], "int8", 0.05, 3)
    b = m.input("b", shape_b, "int8", 0.04, -6)
    y = m.activation("y", [2, 3, 8], "int8", 0.1, -1)
    m.op("MUL", [a, b], [y], "MulOptions", version=2, FusedActivationFunction=activation)
    check_exact(m, [y], tmp_path)


@pytest.mark.parametrize("op", ["MAXIMUM", "MINIMUM"])
def test_maximum_minimum(op, tmp_path):
    m = ModelSpec()
    a = m.input("a", [1, 4, 5, 3], "int8", 0.05, 3)
    b = m.input("b", [1, 1, 5, 3], "int8", 0.05, 3)
    y = m.activation("y", [1, 4, 5, 3], "int8", 0.05, 3)
    m.op(op, [a, b], [y], version=2)
    check_exact(m, [y], tmp_path)


@pytest.mark.parametrize("op,out_scale,out_zp,options", [
    ("RELU", 0.05, -128, {}),            # same scale: the ReLU of a conv output
    ("RELU", 0.03, -100, {}),            # rescaled
    ("RELU6", 0.025, -128, {}),          # 6.0 inside the output range
    ("RELU_N1_TO_1", 0.01, 2, {}),
    ("QUANTIZE", 0.02, 17, {}),          # int8 -> int8 requantization
    ("QUANTIZE", 0.3, -5, {}),           # to a coarser scale
    ("LEAKY_RELU", 0.04, -20, {"Alpha": 0.2}),
    ("ABS", 0.03, -60, {}),
])
def test_elementwise_rescale(op, out_scale, out_zp, options, tmp_path):
    m = ModelSpec()
    x = m.input("x", [2, 5, 9], "int8", 0.05, -4)
    y = m.activation("y", [2, 5, 9], "int8", out_scale, out_zp)
    m.op(op, [x], [y], "LeakyReluOptions" if options else None, version=1 if op == "RELU_N1_TO_1" else 2, **options)
    check_exact(m, [y], tmp_path)


@pytest.mark.parametrize("op,in_scale,in_zp,out_scale,out_zp,options", [
    ("LOGISTIC", 0.05, 3, 1 / 256, -128, {}),     # TFLite's fixed int8 logistic output
    ("LOGISTIC", 0.12, -30, 1 / 256, -128, {}),
    ("TANH", 0.03, 0, 1 / 128, 0, {}),            # and tanh's
    ("TANH", 0.09, 12, 1 / 128, 0, {}),
    ("GELU", 0.05, 3, 0.03, -20, {"Approximate": False}),
    ("GELU", 0.1, -10, 0.05, 5, {"Approximate": True}),
    ("EXP", 0.02, 40, 0.04, -128, {}),
    ("LOG", 0.05, -60, 0.04, 10, {}),             # inputs at or below zero included
    ("HARD_SWISH", 0.05, 3, 0.03, -20, {}),       # TFLite computes it in 16-bit fixed point:
    ("HARD_SWISH", 0.003, -7, 0.002, 10, {}),     # aotgen tabulates that arithmetic
])
def test_table_ops(op, in_scale, in_zp, out_scale, out_zp, options, tmp_path):
    """int8 -> int8 functions of one byte: aotgen tabulates them at compile time (LOGISTIC, TANH,
    GELU, EXP and LOG as LiteRT builds its float table; HARD_SWISH by its fixed-point arithmetic), so the
    generated code only indexes a table. Every input byte is checked, in shuffled orders."""
    m = ModelSpec()
    x = m.input("x", [2, 256], "int8", in_scale, in_zp)
    y = m.activation("y", [2, 256], "int8", out_scale, out_zp)
    m.op(op, [x], [y], "GeluOptions" if options else None, **options)
    rng = np.random.default_rng(9)
    every_byte = lambda t: rng.permuted(np.tile(np.arange(-128, 128), (2, 1)), axis=1).astype(np.int8)  # noqa: E731
    check_exact(m, [y], tmp_path, make_input=every_byte)


def test_neg(tmp_path):
    """Every input byte; the output zero point is the negated input one, as the converter writes."""
    m = ModelSpec()
    x = m.input("x", [2, 256], "int8", 0.05, 7)
    y = m.activation("y", [2, 256], "int8", 0.05, -7)
    m.op("NEG", [x], [y])
    rng = np.random.default_rng(1)
    check_exact(m, [y], tmp_path, make_input=lambda t: rng.permuted(np.tile(np.arange(-128, 128), (2, 1)),
                                                                    axis=1).astype(np.int8))


@pytest.mark.parametrize("zero_point", [-128, -40])
def test_rsqrt(zero_point, tmp_path):
    """1/sqrt(x) for every input byte at or above the zero point (TFLite fails at run time on
    negative values), 0.0 included: LiteRT gives 127 there."""
    m = ModelSpec()
    x = m.input("x", [2, 128], "int8", 0.02, zero_point)
    y = m.activation("y", [2, 128], "int8", 0.03, -100)
    m.op("RSQRT", [x], [y])
    rng = np.random.default_rng(3)
    valid = np.arange(zero_point, 128)
    check_exact(m, [y], tmp_path, make_input=lambda t: rng.choice(valid, t.shape).astype(np.int8))


# ------------------------------------------------------------------------------------ pooling


@pytest.mark.parametrize("op", ["AVERAGE_POOL_2D", "MAX_POOL_2D"])
@pytest.mark.parametrize("padding,filt,stride,activation", [
    (SAME, (3, 3), (2, 2), NONE),
    (VALID, (2, 2), (2, 2), NONE),
    (SAME, (3, 2), (1, 2), RELU6),
    (VALID, (5, 5), (1, 1), RELU),
])
def test_pool_2d(op, padding, filt, stride, activation, tmp_path):
    in_shape = [1, 9, 10, 3]
    if padding == SAME:
        oh, ow = -(-in_shape[1] // stride[0]), -(-in_shape[2] // stride[1])
    else:
        oh, ow = (in_shape[1] - filt[0]) // stride[0] + 1, (in_shape[2] - filt[1]) // stride[1] + 1
    m = ModelSpec()
    # RELU6 with a scale whose 6.0 lands inside the int8 range.
    x = m.input("x", in_shape, "int8", 0.03, -5)
    y = m.activation("y", [1, oh, ow, 3], "int8", 0.03, -5)
    m.op(op, [x], [y], "Pool2DOptions", version=2, Padding=padding, StrideH=stride[0], StrideW=stride[1],
         FilterHeight=filt[0], FilterWidth=filt[1], FusedActivationFunction=activation)
    check_exact(m, [y], tmp_path)


# ---------------------------------------------------------------------------- layout-only ops


def layout_model(op: str, in_shape, out_shape, consts: dict | None = None, options_type=None, **options):
    """x -> op -> y with the same quantization on both sides (TFLite requires it for these)."""
    m = ModelSpec()
    x = m.input("x", in_shape, "int8", 0.02, 9)
    ins = [x] + [m.const(name, value) for name, value in (consts or {}).items()]
    y = m.activation("y", out_shape, "int8", 0.02, 9)
    m.op(op, ins, [y], options_type, **options)
    return m, y


LAYOUT_CASES = {
    "reshape": lambda: layout_model("RESHAPE", [1, 4, 6, 2], [1, 8, 6], {"shape": np.array([1, 8, 6], np.int32)},
                                    "ReshapeOptions", NewShape=[1, 8, 6]),
    "pad": lambda: layout_model("PAD", [1, 4, 5, 3], [1, 7, 6, 5],
                                {"paddings": np.array([[0, 0], [1, 2], [0, 1], [2, 0]], np.int32)}),
    "strided_slice": lambda: layout_model(
        "STRIDED_SLICE", [1, 9, 8, 6], [1, 4, 3, 2],
        {"begin": np.array([0, 1, 0, 1], np.int32), "end": np.array([1, 9, 8, 6], np.int32),
         "strides": np.array([1, 2, 3, 2], np.int32)}, "StridedSliceOptions", version=4),
    "strided_slice_masks": lambda: layout_model(
        "STRIDED_SLICE", [2, 6, 5], [6, 3],
        {"begin": np.array([1, 0, 2], np.int32), "end": np.array([2, 0, 5], np.int32),
         "strides": np.array([1, 1, 1], np.int32)}, "StridedSliceOptions", version=4,
        BeginMask=0b010, EndMask=0b010, ShrinkAxisMask=0b001),
    "slice": lambda: layout_model("SLICE", [1, 6, 7, 4], [1, 3, 7, 2],
                                  {"begin": np.array([0, 2, 0, 1], np.int32), "size": np.array([1, 3, -1, 2], np.int32)},
                                  version=2),
    "transpose": lambda: layout_model("TRANSPOSE", [1, 3, 4, 5], [1, 5, 3, 4],
                                      {"perm": np.array([0, 3, 1, 2], np.int32)}, version=2),
    "squeeze": lambda: layout_model("SQUEEZE", [1, 1, 6, 1, 4], [6, 4], None, "SqueezeOptions", SqueezeDims=[0, 1, 3]),
    "expand_dims": lambda: layout_model("EXPAND_DIMS", [5, 4], [5, 1, 4], {"axis": np.array(1, np.int32)}),
    "tile": lambda: layout_model("TILE", [2, 3], [4, 9], {"multiples": np.array([2, 3], np.int32)}),
    "depth_to_space": lambda: layout_model("DEPTH_TO_SPACE", [1, 3, 4, 8], [1, 6, 8, 2], None,
                                           "DepthToSpaceOptions", BlockSize=2),
    "space_to_depth": lambda: layout_model("SPACE_TO_DEPTH", [1, 6, 8, 2], [1, 3, 4, 8], None,
                                           "SpaceToDepthOptions", BlockSize=2),
    "gather": lambda: layout_model("GATHER", [5, 4], [3, 4], {"indices": np.array([4, 0, 2], np.int32)},
                                   "GatherOptions", Axis=0),
    "mirror_pad_reflect": lambda: layout_model("MIRROR_PAD", [1, 4, 4, 2], [1, 6, 5, 2],
                                               {"paddings": np.array([[0, 0], [1, 1], [0, 1], [0, 0]], np.int32)},
                                               "MirrorPadOptions", Mode=0),
    "reverse": lambda: layout_model("REVERSE_V2", [3, 4, 2], [3, 4, 2], {"axis": np.array([1], np.int32)}),
    "broadcast_to": lambda: layout_model("BROADCAST_TO", [1, 4], [3, 4], {"shape": np.array([3, 4], np.int32)},
                                         version=2),
    "reduce_max": lambda: layout_model("REDUCE_MAX", [2, 5, 4], [2, 4], {"axes": np.array([1], np.int32)},
                                       "ReducerOptions", version=2, KeepDims=False),
    "reduce_min": lambda: layout_model("REDUCE_MIN", [2, 5, 4], [1, 5, 1], {"axes": np.array([0, 2], np.int32)},
                                       "ReducerOptions", version=2, KeepDims=True),
    "resize_nearest": lambda: layout_model("RESIZE_NEAREST_NEIGHBOR", [1, 3, 4, 2], [1, 6, 8, 2],
                                           {"size": np.array([6, 8], np.int32)}, "ResizeNearestNeighborOptions",
                                           version=3, AlignCorners=False, HalfPixelCenters=False),
    "resize_nearest_half_pixel": lambda: layout_model(
        "RESIZE_NEAREST_NEIGHBOR", [1, 3, 4, 2], [1, 7, 5, 2], {"size": np.array([7, 5], np.int32)},
        "ResizeNearestNeighborOptions", version=3, AlignCorners=False, HalfPixelCenters=True),
    "resize_nearest_align_corners": lambda: layout_model(
        "RESIZE_NEAREST_NEIGHBOR", [1, 5, 3, 2], [1, 9, 7, 2], {"size": np.array([9, 7], np.int32)},
        "ResizeNearestNeighborOptions", version=3, AlignCorners=True, HalfPixelCenters=False),
    # TFLite's integer bilinear kernel (1/1024 positions): upsampling as in a Keras UNet, half-pixel
    # centres, corners aligned, and a downsampling by an odd factor.
    "resize_bilinear": lambda: layout_model("RESIZE_BILINEAR", [1, 5, 4, 3], [1, 10, 8, 3],
                                            {"size": np.array([10, 8], np.int32)}, "ResizeBilinearOptions",
                                            version=3, AlignCorners=False, HalfPixelCenters=False),
    "resize_bilinear_half_pixel": lambda: layout_model(
        "RESIZE_BILINEAR", [1, 4, 5, 2], [1, 11, 7, 2], {"size": np.array([11, 7], np.int32)},
        "ResizeBilinearOptions", version=3, AlignCorners=False, HalfPixelCenters=True),
    "resize_bilinear_align_corners": lambda: layout_model(
        "RESIZE_BILINEAR", [1, 5, 3, 2], [1, 9, 7, 2], {"size": np.array([9, 7], np.int32)},
        "ResizeBilinearOptions", version=3, AlignCorners=True, HalfPixelCenters=False),
    "resize_bilinear_down": lambda: layout_model(
        "RESIZE_BILINEAR", [1, 9, 8, 2], [1, 4, 3, 2], {"size": np.array([4, 3], np.int32)},
        "ResizeBilinearOptions", version=3, AlignCorners=False, HalfPixelCenters=True),
}


@pytest.mark.parametrize("case", LAYOUT_CASES)
def test_layout_op(case, tmp_path):
    m, y = LAYOUT_CASES[case]()
    check_exact(m, [y], tmp_path)


@pytest.mark.parametrize("op,axis,sizes", [("SPLIT", 2, None), ("SPLIT_V", 1, [1, 3])])
def test_split(op, axis, sizes, tmp_path):
    m = ModelSpec()
    x = m.input("x", [1, 4, 6, 3], "int8", 0.02, 9)
    axis_t = m.const("axis", np.array(axis, np.int32))
    if op == "SPLIT":
        ys = [m.activation(f"y{i}", [1, 4, 2, 3], "int8", 0.02, 9) for i in range(3)]
        m.op(op, [axis_t, x], ys, "SplitOptions", NumSplits=3)
    else:
        ys = [m.activation(f"y{i}", [1, n, 6, 3], "int8", 0.02, 9) for i, n in enumerate(sizes)]
        m.op(op, [x, m.const("sizes", np.array(sizes, np.int32)), axis_t], ys, "SplitVOptions", NumSplits=2)
    check_exact(m, ys, tmp_path)


@pytest.mark.parametrize("op", ["PACK", "UNPACK"])
def test_pack_unpack(op, tmp_path):
    m = ModelSpec()
    if op == "PACK":
        ins = [m.input(n, [3, 4], "int8", 0.02, 9) for n in "ab"]
        ys = [m.activation("y", [3, 2, 4], "int8", 0.02, 9)]
        m.op(op, ins, ys, "PackOptions", ValuesCount=2, Axis=1)
    else:
        x = m.input("x", [3, 2, 4], "int8", 0.02, 9)
        ys = [m.activation(f"y{i}", [3, 4], "int8", 0.02, 9) for i in range(2)]
        m.op(op, [x], ys, "UnpackOptions", Num=2, Axis=1)
    check_exact(m, ys, tmp_path)


@pytest.mark.parametrize("dtype", ["int8", "float32"])
def test_space_to_batch_and_back(dtype, tmp_path):
    """The pair older TensorFlow exports put around a dilated convolution. TVM 0.27 lowers both
    to packed runtime calls; aotgen computes them (padding with the output zero point)."""
    q = {"scale": 0.02, "zero_point": 9} if dtype == "int8" else {}
    m = ModelSpec()
    x = m.input("x", [2, 5, 6, 3], dtype, **q)
    s2b = m.activation("s2b", [8, 4, 4, 3], dtype, **q)
    m.op("SPACE_TO_BATCH_ND", [x, m.const("block", np.array([2, 2], np.int32)),
                               m.const("pads", np.array([[1, 2], [0, 2]], np.int32))], [s2b], version=2)
    y = m.activation("y", [2, 7, 5, 3], dtype, **q)
    m.op("BATCH_TO_SPACE_ND", [s2b, m.const("block2", np.array([2, 2], np.int32)),
                               m.const("crops", np.array([[0, 1], [1, 2]], np.int32))], [y], version=2)
    check_exact(m, [s2b, y], tmp_path, integer_only=dtype == "int8")


@pytest.mark.parametrize("op", ["ARG_MAX", "ARG_MIN"])
@pytest.mark.parametrize("dtype", ["int8", "float32"])
def test_arg_max_min(op, dtype, tmp_path):
    """The first index of the extreme value (inputs from 6 values: many ties), in int32 code:
    TVM's own converter computes int64 indices and leaves an int64 model output."""
    q = {"scale": 0.02, "zero_point": 9} if dtype == "int8" else {}
    m = ModelSpec()
    x = m.input("x", [3, 10, 4], dtype, **q)
    y = m.activation("y", [3, 4], "int32")
    m.op(op, [x, m.const("axis", np.array(1, np.int32))], [y], "ArgMaxOptions" if op == "ARG_MAX" else "ArgMinOptions",
         version=2, OutputType=2)
    rng = np.random.default_rng(0)
    check_exact(m, [y], tmp_path, make_input=lambda t: rng.integers(-3, 3, t.shape).astype(t.dtype),
                integer_only=dtype == "int8")
    assert "int64" not in (tmp_path / "mlf" / "codegen" / "host" / "src" / "model_lib0.c").read_text()


def test_concatenation(tmp_path):
    m = ModelSpec()
    a = m.input("a", [1, 4, 5, 3], "int8", 0.05, -2)
    b = m.input("b", [1, 4, 5, 6], "int8", 0.05, -2)
    y = m.activation("y", [1, 4, 5, 9], "int8", 0.05, -2)
    m.op("CONCATENATION", [a, b], [y], "ConcatenationOptions", version=2, Axis=3, FusedActivationFunction=NONE)
    check_exact(m, [y], mkdir(tmp_path / "axis3"))
    m = ModelSpec()
    a = m.input("a", [2, 3, 4], "int8", 0.05, -2)
    b = m.input("b", [2, 1, 4], "int8", 0.05, -2)
    c = m.input("c", [2, 2, 4], "int8", 0.05, -2)
    y = m.activation("y", [2, 6, 4], "int8", 0.05, -2)
    m.op("CONCATENATION", [a, b, c], [y], "ConcatenationOptions", version=2, Axis=1, FusedActivationFunction=NONE)
    check_exact(m, [y], mkdir(tmp_path / "axis1"))


def test_layers_in_sequence(tmp_path):
    """A few layout ops and a conv chained: views and copies between integer kernels."""
    rng = np.random.default_rng(5)
    m = ModelSpec()
    x = m.input("x", [1, 6, 6, 4], "int8", 0.05, -7)
    p = m.activation("p", [1, 8, 8, 4], "int8", 0.05, -7)
    m.op("PAD", [x, m.const("pads", np.array([[0, 0], [1, 1], [1, 1], [0, 0]], np.int32))], [p])
    ws = weight_scales(rng, 8, True)
    c = m.activation("c", [1, 6, 6, 8], "int8", output_scale_for(0.05, ws, 36), 1)
    m.op("CONV_2D", [p, m.const("w", symmetric_int8(rng, [8, 3, 3, 4]), ws, 0),
                     m.const("b", bias_int32(rng, 8), 0.05 * ws, 0)], [c], "Conv2DOptions", version=3,
         Padding=VALID, StrideH=1, StrideW=1, DilationHFactor=1, DilationWFactor=1, FusedActivationFunction=RELU)
    mp = m.activation("mp", [1, 3, 3, 8], "int8", output_scale_for(0.05, ws, 36), 1)
    m.op("MAX_POOL_2D", [c], [mp], "Pool2DOptions", Padding=VALID, StrideH=2, StrideW=2, FilterHeight=2,
         FilterWidth=2, FusedActivationFunction=NONE)
    t = m.activation("t", [1, 8, 3, 3], "int8", output_scale_for(0.05, ws, 36), 1)
    m.op("TRANSPOSE", [mp, m.const("perm", np.array([0, 3, 1, 2], np.int32))], [t])
    r = m.activation("r", [1, 72], "int8", output_scale_for(0.05, ws, 36), 1)
    m.op("RESHAPE", [t, m.const("shape", np.array([1, 72], np.int32))], [r], "ReshapeOptions", NewShape=[1, 72])
    check_exact(m, [r], tmp_path)


# ------------------------------------------------------------------------------------- MEAN


@pytest.mark.parametrize("axes,keep,out_shape,in_scale,out_scale,out_zp", [
    ([1, 2], True, [1, 1, 1, 6], 0.05, 0.05, -3),  # the global average pool of Keras models
    ([1, 2], True, [1, 1, 1, 6], 0.05, 0.02, 6),   # requantized
    ([1, 2], False, [1, 6], 0.05, 0.03, 0),
    ([3], True, [1, 5, 7, 1], 0.05, 0.05, -3),
    ([-1, 1], False, [1, 7], 0.05, 0.04, 2),       # negative axis
])
def test_mean(axes, keep, out_shape, in_scale, out_scale, out_zp, tmp_path):
    m = ModelSpec()
    x = m.input("x", [1, 5, 7, 6], "int8", in_scale, -3)
    y = m.activation("y", out_shape, "int8", out_scale, out_zp)
    m.op("MEAN", [x, m.const("axes", np.array(axes, np.int32))], [y], "ReducerOptions", version=2, KeepDims=keep)
    rng = np.random.default_rng(3)
    # Skewed per-channel inputs, so the means differ from channel to channel and sample to sample.
    check_exact(m, [y], tmp_path, make_input=lambda t: np.clip(
        rng.normal(rng.uniform(-100, 100, 6), 30, t.shape), -128, 127).astype(np.int8))


# ----------------------------------------------------------------------------------- SOFTMAX


@pytest.mark.parametrize("in_scale,beta,spread,shape,distinct", [
    (0.05, 1.0, 40, [1, 10], 40),       # logits over a few units: every output in mid range
    (0.1, 1.0, 80, [3, 12], 40),        # several rows
    (0.02, 0.5, 127, [2, 3, 7], 40),    # beta != 1, rank 3
    (0.5, 1.0, 127, [1, 20], 15),       # wide logits: many differences fall below diff_min
    (0.03, 1.0, 127, [1, 300], 5),      # a long row: the sum of exps needs its integer bits
])
def test_softmax(in_scale, beta, spread, shape, distinct, tmp_path):
    m = ModelSpec()
    x = m.input("x", shape, "int8", in_scale, 3)
    y = m.activation("y", shape, "int8", 1.0 / 256, -128)  # TFLite's fixed int8 softmax output
    m.op("SOFTMAX", [x], [y], "SoftmaxOptions", version=2, Beta=beta)
    rng = np.random.default_rng(int(in_scale * 1000))
    ref = check_exact(m, [y], tmp_path, make_input=lambda t: uniform_int8(rng, t.shape, max(-128, 3 - spread),
                                                                          min(127, 3 + spread)))
    out = np.concatenate([r[0].ravel() for r in ref])
    assert len(np.unique(out)) >= distinct, "softmax outputs too few distinct values to test the arithmetic"


@pytest.mark.parametrize("in_scale", [0.004, 0.011, 0.03, 0.08, 0.2, 0.55, 1.0])
def test_softmax_every_difference(in_scale, tmp_path):
    """Row r holds 127 - r, the max 127 and two values between, in shuffled places: every
    input difference 0..-255 reaches the exp at each input scale (through diff_min and beyond)."""
    m = ModelSpec()
    x = m.input("x", [256, 4], "int8", in_scale, 0)
    y = m.activation("y", [256, 4], "int8", 1.0 / 256, -128)
    m.op("SOFTMAX", [x], [y], "SoftmaxOptions", version=2, Beta=1.0)
    rng = np.random.default_rng(int(in_scale * 1000))

    def sweep(_t):
        low = 127 - np.arange(256)
        rows = np.stack([low, np.full(256, 127), rng.integers(low, 128), rng.integers(low, 128)], axis=1)
        return rng.permuted(rows, axis=1).astype(np.int8)

    check_exact(m, [y], tmp_path, make_input=sweep)


def test_float_interface(tmp_path):
    """An int8 model with float input and output (the TFLite converter's default): QUANTIZE must
    round halves away from zero as TFLite does (TVM's rounds them to even), DEQUANTIZE follow.
    Inputs put many values exactly on .5 of the quantization grid."""
    rng = np.random.default_rng(0)
    s_in = 0.0213
    m = ModelSpec()
    x = m.input("x", [1, 6, 6, 2], "float32")
    q = m.activation("q", [1, 6, 6, 2], "int8", s_in, -3)
    m.op("QUANTIZE", [x], [q])
    ws = weight_scales(rng, 4, True)
    c = m.activation("c", [1, 6, 6, 4], "int8", output_scale_for(s_in, ws, 18), 2)
    m.op("CONV_2D", [q, m.const("w", symmetric_int8(rng, [4, 3, 3, 2]), ws, 0),
                     m.const("b", bias_int32(rng, 4), s_in * ws, 0)], [c], "Conv2DOptions", version=3,
         Padding=SAME, StrideH=1, StrideW=1, DilationHFactor=1, DilationWFactor=1, FusedActivationFunction=NONE)
    y = m.activation("y", [1, 6, 6, 4], "float32")
    m.op("DEQUANTIZE", [c], [y], version=2)

    def on_the_grid(t):  # half the values exactly k + 0.5 steps, the rest nearby; within int8 range
        v = (rng.integers(-300, 300, t.shape) * 0.5 * np.float32(s_in)).astype(np.float32)
        return np.where(rng.random(t.shape) < 0.5, v, v + rng.uniform(-1e-3, 1e-3, t.shape)).astype(np.float32)

    check_exact(m, [q, y], tmp_path, make_input=on_the_grid, integer_only=False)


def test_unsupported_int8_case_names_the_layer(tmp_path):
    """An int8 SOFTMAX whose output is not quantized as TFLite requires (1/256, -128)."""
    m = ModelSpec()
    x = m.input("x", [1, 10], "int8", 0.1, 0)
    y = m.activation("probabilities", [1, 10], "int8", 1 / 128, 0)
    m.op("SOFTMAX", [x], [y], "SoftmaxOptions", version=2, Beta=1.0)
    path = tmp_path / "softmax.tflite"
    path.write_bytes(m.to_bytes([y]))
    with pytest.raises(UnsupportedModelError, match=r"layer 0 \(SOFTMAX, output 'probabilities'\): int8 SOFTMAX"):
        aotgen.compile(path, tmp_path / "mlf")


def test_dynamic_range_layer_refused(tmp_path):
    """A hybrid layer (float activations, int8 weights) is refused, not computed half in float."""
    m = ModelSpec()
    x = m.input("x", [1, 8], "float32")
    w = m.const("w", symmetric_int8(np.random.default_rng(0), [4, 8]), 0.01, 0)
    y = m.activation("y", [1, 4], "float32")
    m.op("FULLY_CONNECTED", [x, w, -1], [y], "FullyConnectedOptions", version=5, FusedActivationFunction=NONE)
    path = tmp_path / "hybrid.tflite"
    path.write_bytes(m.to_bytes([y]))
    with pytest.raises(UnsupportedModelError, match="not supported: dynamic-range quantization"):
        aotgen.compile(path, tmp_path / "mlf")


def test_requantize_value_models_the_c_helpers():
    """aotgen.quantized.requantize_value (used to fold pruned channels at compile time) against
    test_requantize's model of TFLite's arithmetic, which is checked against the C helpers."""
    from aotgen.compiler.quantized import requantize_value
    from test_requantize import cases
    from tflite_arith import multiply_by_quantized_multiplier, single_rounding

    for x, m, s in cases()[:5000]:
        assert requantize_value(x, m, s) == multiply_by_quantized_multiplier(x, m, s), (x, m, s)
        if s <= 7 and 31 - s >= 1:
            assert requantize_value(x, m, s, True) == single_rounding(x, m, s), (x, m, s)


def test_llvm_backend_int8_ops(tmp_path):
    """The integer kernels and their C helpers built by LLVM (helpers external, in the C glue):
    softmax, a table op, transpose conv, mean and arg max, one model."""
    rng = np.random.default_rng(8)
    m = ModelSpec()
    x = m.input("x", [1, 4, 4, 3], "int8", 0.05, 2)
    ws = weight_scales(rng, 4, True)
    t = m.activation("t", [1, 8, 8, 4], "int8", output_scale_for(0.05, ws, 9), -3)
    m.op("TRANSPOSE_CONV", [m.const("shape", np.array([1, 8, 8, 4], np.int32)),
                            m.const("w", symmetric_int8(rng, [4, 3, 3, 3]), ws, 0), x,
                            m.const("b", bias_int32(rng, 4), 0.05 * ws, 0)], [t], "TransposeConvOptions", version=4,
         Padding=SAME, StrideH=2, StrideW=2, FusedActivationFunction=NONE)
    h = m.activation("h", [1, 8, 8, 4], "int8", output_scale_for(0.05, ws, 9), -3)
    m.op("HARD_SWISH", [t], [h])
    s_mean = output_scale_for(0.05, ws, 9) / 8  # a mean of 64 values spreads ~1/8 as much
    mean = m.activation("mean", [1, 4], "int8", s_mean, 0)
    m.op("MEAN", [h, m.const("axes", np.array([1, 2], np.int32))], [mean], "ReducerOptions", version=2, KeepDims=False)
    probs = m.activation("probs", [1, 4], "int8", 1 / 256, -128)
    m.op("SOFTMAX", [mean], [probs], "SoftmaxOptions", version=2, Beta=1.0 / (40 * s_mean))
    arg = m.activation("arg", [1], "int32")
    m.op("ARG_MAX", [probs, m.const("axis", np.array(1, np.int32))], [arg], "ArgMaxOptions", version=2, OutputType=2)
    check_exact(m, [probs, arg], tmp_path, backend="llvm")


# ------------------------------------------------------------------------ the builder itself


def test_builder_float_model_matches(tmp_path):
    """tflite_builder writes float models LiteRT runs too (a float conv, checked to 1e-5)."""
    rng = np.random.default_rng(2)
    m = ModelSpec()
    x = m.input("x", [1, 6, 6, 2], "float32")
    w = m.const("w", rng.normal(0, 0.5, [3, 3, 3, 2]).astype(np.float32))
    b = m.const("b", rng.normal(0, 0.1, [3]).astype(np.float32))
    y = m.activation("y", [1, 6, 6, 3], "float32")
    m.op("CONV_2D", [x, w, b], [y], "Conv2DOptions", Padding=SAME, StrideH=1, StrideW=1, DilationHFactor=1,
         DilationWFactor=1, FusedActivationFunction=RELU)
    path = tmp_path / "float.tflite"
    path.write_bytes(m.to_bytes([y]))
    lib = aotgen.compile(path, tmp_path / "mlf").library
    samples = [[rng.uniform(-1, 1, (1, 6, 6, 2)).astype(np.float32)] for _ in range(4)]
    got = build_host_executable(lib, tmp_path).run(samples)
    for g, r in zip(got, run_reference(path, samples)):
        np.testing.assert_allclose(g[0], r[0], rtol=1e-5, atol=1e-5)
