"""Integer-only lowering of fully int8-quantized TFLite operators.

TVM's TFLite importer turns int8 models into fake-quant float (dequantize -> float op ->
quantize): 4x the weights, float activations, and results that drift from TFLite's integer
kernels. These converters replace it, each reproducing LiteRT's reference kernel bit for bit
(tests/test_int8_ops.py checks every one against it):

- arithmetic: CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED, TRANSPOSE_CONV, BATCH_MATMUL (int8 x
  int8 -> int32, int8 weights kept as they are), ADD, SUB, MUL, SQUARED_DIFFERENCE, MEAN,
  AVERAGE_POOL_2D (lower.py), SOFTMAX, RELU*, LEAKY_RELU, PRELU, ABS and int8 -> int8 QUANTIZE,
  with TFLite's fixed-point requantization done by the C helpers of c_helpers.py
  (`MultiplyByQuantizedMultiplier`, gemmlowp rounding, 32-bit arithmetic only);
- functions of one byte (LOGISTIC, TANH, GELU, EXP, LOG, RSQRT, HARD_SWISH): a 256-entry table
  computed here, at compile time, exactly as TFLite computes it;
- comparisons and data movement (NEG, MAX_POOL_2D, MAXIMUM, MINIMUM, REDUCE_MAX/MIN, ARG_MAX/MIN,
  CONCATENATION, RESIZE_NEAREST_NEIGHBOR and the layout-only ops of LAYOUT_ONLY_INT8_OPS) on the
  stored bytes;
- a float interface: QUANTIZE float32 -> int8 rounded as TFLite rounds (DEQUANTIZE is TVM's).

Anything else quantized keeps TVM's fake-quant path (float in the generated code).
"""

from __future__ import annotations

import math

import numpy as np
from tvm import relax, te, tirx

from . import c_helpers
from .errors import UnsupportedModelError

# int8 operators TVM's importer refuses that only move or compare bytes (TFLite requires, or
# copies as if, equal input and output quantization; ARG_MAX/MIN compare the stored values):
# their converters are correct on int8 tensors as they are.
LAYOUT_ONLY_INT8_OPS = frozenset({"PAD", "PADV2", "STRIDED_SLICE", "SLICE", "TRANSPOSE", "SQUEEZE", "SPLIT", "SPLIT_V",
                                  "PACK", "UNPACK", "TILE", "DEPTH_TO_SPACE", "SPACE_TO_DEPTH", "GATHER",
                                  "MIRROR_PAD", "REVERSE_V2", "BROADCAST_TO", "EXPAND_DIMS", "SPACE_TO_BATCH_ND",
                                  "BATCH_TO_SPACE_ND", "ARG_MAX", "ARG_MIN"})
# int8 operators TVM's importer refuses that IntegerConverters computes itself.
INTEGER_ONLY_INT8_OPS = frozenset({"GELU", "RESIZE_NEAREST_NEIGHBOR", "PRELU", "BATCH_MATMUL"})

# ------------------------------------- TFLite's quantization parameters (its Prepare functions)


def round_half_away(x: float) -> int:
    """TfLiteRound / std::round."""
    return int(math.copysign(math.floor(abs(x) + 0.5), x))


def quantize_multiplier(real: float) -> tuple[int, int]:
    """TFLite's QuantizeMultiplier: real ~= multiplier * 2^(shift - 31), multiplier in Q31."""
    if real == 0.0:
        return 0, 0
    q, shift = math.frexp(real)
    q_fixed = round_half_away(q * (1 << 31))
    if q_fixed == 1 << 31:
        q_fixed //= 2
        shift += 1
    if shift < -31:
        return 0, 0
    return q_fixed, shift


def activation_range(fn: int, scale: float, zero_point: int, dtype: str) -> tuple[int, int]:
    """TFLite's CalculateActivationRangeQuantized."""
    from tflite.ActivationFunctionType import ActivationFunctionType as A

    info = np.iinfo(dtype)
    lo, hi = int(info.min), int(info.max)

    def q(v: float) -> int:
        return zero_point + round_half_away(v / scale)

    if fn == A.NONE:
        return lo, hi
    if fn == A.RELU:
        return max(lo, q(0.0)), hi
    if fn == A.RELU6:
        return max(lo, q(0.0)), min(hi, q(6.0))
    if fn == A.RELU_N1_TO_1:
        return max(lo, q(-1.0)), min(hi, q(1.0))
    raise UnsupportedModelError(f"fused activation {fn} on a quantized operator")


def _tensor_quant(tensor) -> tuple[np.ndarray, np.ndarray, int]:
    """(scales as float32, zero points, quantized dimension) of a TFLite tensor."""
    q = tensor.tensor.Quantization()
    return q.ScaleAsNumpy().astype(np.float32), q.ZeroPointAsNumpy().astype(np.int64), q.QuantizedDimension()


def _per_channel(values: np.ndarray, n: int) -> np.ndarray:
    return np.broadcast_to(values, (n,)) if values.size == 1 else values


def output_requant_params(in_scale: np.float32, w_scales: np.ndarray, out_scale: np.float32, channels: int):
    """Per-channel (multiplier, shift) for conv/FC (PopulateConvolutionQuantizationParams):
    in_scale * w_scale / out_scale in double, per-tensor weights broadcast to every channel.
    (GetQuantizedConvolutionMultipler's float32 product serves uint8 only: with it, per-tensor
    int8 FULLY_CONNECTED is 1 LSB off on near-ties.)"""
    mults, shifts = [], []
    for ws in _per_channel(w_scales, channels):
        m, s = quantize_multiplier(float(in_scale) * float(ws) / float(out_scale))
        mults.append(m)
        shifts.append(s)
    return np.array(mults, dtype="int32"), np.array(shifts, dtype="int32")


def add_params(s1, zp1, s2, zp2, so, zpo, lo, hi) -> dict:
    """tflite/kernels/add.cc Prepare for int8, with its float/double promotions."""
    left_shift = 20
    twice_max = float(np.float32(2) * max(np.float32(s1), np.float32(s2)))
    m1, sh1 = quantize_multiplier(float(np.float32(s1)) / twice_max)
    m2, sh2 = quantize_multiplier(float(np.float32(s2)) / twice_max)
    mo, sho = quantize_multiplier(twice_max / float(np.float32(1 << left_shift) * np.float32(so)))
    return {"zp1": zp1, "zp2": zp2, "one_shl": 1 << left_shift, "m1": m1, "s1": sh1, "m2": m2, "s2": sh2,
            "mo": mo, "so": sho, "zpo": zpo, "lo": lo, "hi": hi}


def squared_difference_params(s1, zp1, s2, zp2, so, zpo) -> dict:
    """squared_difference.cc Prepare for int8: left shift 7, inputs over twice the larger scale,
    the output multiplier over the square of that base."""
    left_shift = 7
    twice_max = 2.0 * float(max(np.float32(s1), np.float32(s2)))
    m1, sh1 = quantize_multiplier(float(np.float32(s1)) / twice_max)
    m2, sh2 = quantize_multiplier(float(np.float32(s2)) / twice_max)
    mo, sho = quantize_multiplier(twice_max * twice_max / ((1 << (left_shift * 2)) * float(np.float32(so))))
    return {"zp1": zp1, "zp2": zp2, "one_shl": 1 << left_shift, "m1": m1, "s1": sh1, "m2": m2, "s2": sh2,
            "mo": mo, "so": sho, "zpo": zpo}


def softmax_params(beta: float, in_scale: np.float32) -> tuple[int, int, int]:
    """(input_multiplier, input_left_shift, diff_min) of TFLite's int8 SoftmaxPrepare:
    PreprocessSoftmaxScaling and CalculateInputRadius with 5 integer bits (Q5.26 differences)."""
    integer_bits = 5
    real = min(float(np.float32(beta)) * float(in_scale) * (1 << (31 - integer_bits)), float((1 << 31) - 1))
    multiplier, left_shift = quantize_multiplier(real)  # QuantizeMultiplierGreaterThanOne
    radius = math.floor(((1 << integer_bits) - 1) * (1 << (31 - integer_bits)) / (1 << left_shift))
    return multiplier, left_shift, -radius


def mean_params(in_scale: np.float32, out_scale: np.float32, count: int) -> tuple[int, int]:
    """TFLite's QuantizedMeanOrSum (mean): the in/out scale multiplier with 1/count folded in,
    `(multiplier << shift) / count` in 64-bit integers, shift = min(floor(log2 count), 32, 31 + shift)."""
    multiplier, shift = quantize_multiplier(float(in_scale) / float(out_scale))
    extra = min(count.bit_length() - 1, 32, 31 + shift)
    return (multiplier << extra) // count, shift - extra


def requantize_value(x: int, multiplier: int, shift: int, single_rounding: bool = False) -> int:
    """Python model of the C helpers (TFLite's MultiplyByQuantizedMultiplier), for constants."""
    if single_rounding:
        total = 31 - shift
        v = (x * multiplier + (1 << (total - 1))) >> total
        return (v + 2**31) % 2**32 - 2**31  # the int32 cast TFLite applies
    x = ((x << max(shift, 0)) + 2**31) % 2**32 - 2**31
    if x == multiplier == -(2**31):
        v = 2**31 - 1
    else:
        ab = x * multiplier
        v = (abs(ab) + (1 << 30) - (ab < 0)) >> 31  # SaturatingRoundingDoublingHighMul
        v = -v if ab < 0 else v
    right = max(-shift, 0)
    mask = (1 << right) - 1
    return (v >> right) + ((v & mask) > (mask >> 1) + (v < 0))


# --------------------------------------------------------------------------- constant encodings


class ChannelRequant:
    """A layer's per-channel (multiplier, shift), stored as compactly as stays exact, since these
    tables are the flash an int8 model carries beyond its weights:

    - "scalar": every channel shares one pair (per-tensor layers): immediates in the code;
    - "packed": one int32 per channel when every multiplier is normalized (bit 30 set, bit 31
      clear, as QuantizeMultiplier makes them) and the shifts span at most 4 values: bits 0..29
      hold the multiplier's low bits, bits 30..31 the shift minus the layer's smallest shift;
    - "arrays": int32 multipliers and int8 shifts.
    `tensors` are the constants the kernel takes, in order; `expr` reads channel c's pair."""

    def __init__(self, mult: np.ndarray, shift: np.ndarray):
        self.mult, self.shift = mult.astype(np.int64), shift.astype(np.int64)
        pairs = set(zip(self.mult.tolist(), self.shift.tolist()))
        self.base = int(self.shift.min())
        if len(pairs) == 1:
            self.kind, self.tensors = "scalar", []
        elif np.all(self.mult >= 1 << 30) and int(self.shift.max()) - self.base <= 3:
            packed = (self.mult - (1 << 30)) | ((self.shift - self.base) << 30)
            self.kind, self.tensors = "packed", [packed.astype(np.uint32).view(np.int32)]
        else:
            self.kind, self.tensors = "arrays", [mult.astype(np.int32), shift.astype(np.int8)]

    def expr(self, c, tensors) -> tuple:
        i32 = lambda v: tirx.const(int(v), "int32")  # noqa: E731
        if self.kind == "scalar":
            return i32(self.mult[0]), i32(self.shift[0])
        if self.kind == "packed":
            word = tensors[0][c]
            mult = tirx.bitwise_or(tirx.bitwise_and(word, i32((1 << 30) - 1)), i32(1 << 30))
            return mult, tirx.bitwise_and(tirx.shift_right(word, i32(30)), i32(3)) + i32(self.base)
        return tensors[0][c], tirx.Cast("int32", tensors[1][c])


def fold_constant_channels(weights: np.ndarray, channel_axis: int, bias: np.ndarray, mult: np.ndarray,
                           shift: np.ndarray, single_rounding: bool = False):
    """Channels whose weights are all zero (pruned) or whose multiplier is 0 output a constant,
    requantize(bias) + zp; give them the live channels' smallest shift, multiplier 0.5 and the
    bias that requantizes to the same constant exactly, so the layer's shifts can pack
    (ChannelRequant "packed"). Returns (bias, mult, shift); the same arrays when nothing folds."""
    zero_w = np.all(np.moveaxis(weights, channel_axis, 0).reshape(weights.shape[channel_axis], -1) == 0, axis=1)
    const = zero_w | (mult == 0)
    if not const.any() or const.all():
        return bias, mult, shift
    base = int(shift[~const].min())
    if base > 1:
        return bias, mult, shift
    bias, mult, shift = bias.astype(np.int64), mult.copy(), shift.copy()
    for c in np.flatnonzero(const):
        k = requantize_value(int(bias[c]), int(mult[c]), int(shift[c]), single_rounding) if mult[c] else 0
        b = k << (1 - base)  # requantize(k * 2^(1-base), 2^30, base) == k exactly
        if -(2**31) <= b < 2**31:  # else the channel keeps its own (exact) parameters
            bias[c], mult[c], shift[c] = b, 1 << 30, base
    return bias.astype(np.int32), mult, shift


def requant_tables(weights, channel_axis: int, bias: np.ndarray, mult: np.ndarray, shift: np.ndarray,
                   single_rounding: bool = False) -> tuple[np.ndarray, "ChannelRequant"]:
    """The smaller exact encoding of a layer's bias and requantization: as imported, or with its
    constant channels folded (which can widen the bias to int32 but pack the shifts)."""
    plain = (compact_bias(bias), ChannelRequant(mult, shift))
    b2, m2, s2 = fold_constant_channels(weights, channel_axis, bias, mult, shift, single_rounding)
    folded = (compact_bias(b2), ChannelRequant(m2, s2))
    size = lambda opt: opt[0].nbytes + sum(t.nbytes for t in opt[1].tensors)  # noqa: E731
    return min((plain, folded), key=size)


def compact_bias(bias: np.ndarray) -> np.ndarray:
    """int32 biases as int16 when every value fits: the same numbers in half the flash."""
    if bias.size and np.all((bias >= -(1 << 15)) & (bias < 1 << 15)):
        return bias.astype(np.int16)
    return bias


# ----------------------------------------------------------------------------------- TE kernels


def requantize(x, multiplier, shift, single_rounding: bool = False):
    """c_helpers' aotgen_requantize (or _single): int32 x * multiplier * 2^shift, TFLite-rounded."""
    return c_helpers.call("int32", "requantize_single" if single_rounding else "requantize", x, multiplier, shift)


def _epilogue(acc, bias, rq: ChannelRequant, rq_tensors, zp_out: int, lo: int, hi: int, out_dtype: str, shape,
              channel_axis: int, single_rounding: bool = False):
    def f(*idx):
        c = idx[channel_axis]
        mult, shift = rq.expr(c, rq_tensors)
        v = requantize(acc(*idx) + tirx.Cast("int32", bias[c]), mult, shift, single_rounding) + tirx.const(zp_out, "int32")
        v = tirx.max(tirx.min(v, tirx.const(hi, "int32")), tirx.const(lo, "int32"))
        return tirx.Cast(out_dtype, v)

    return te.compute(shape, f, name="requantize")


def conv2d_te(x, w, bias, rq_tensors, *, rq: ChannelRequant, strides, dilation, pads, zp_in: int, zp_out: int, lo: int, hi: int,
              out_shape, depth_multiplier: int | None, out_dtype: str):
    """NHWC int8 convolution on TFLite's own weight layout (OHWI, or 1HWC for depthwise).

    Out-of-bounds input positions contribute nothing, as if padded with the input zero point.
    """
    _, in_h, in_w, in_c = (int(d) for d in x.shape)
    sh, sw = strides
    dh, dw = dilation
    pad_top, pad_left = pads
    kh_n, kw_n = (int(w.shape[1]), int(w.shape[2]))
    rkh = te.reduce_axis((0, kh_n), "kh")
    rkw = te.reduce_axis((0, kw_n), "kw")
    zp = tirx.const(zp_in, "int32")

    def tap(n, oh, ow, ic, kh, kw):
        ih = oh * sh + kh * dh - pad_top
        iw = ow * sw + kw * dw - pad_left
        inside = tirx.all(ih >= 0, ih < in_h, iw >= 0, iw < in_w)
        return inside, tirx.if_then_else(inside, tirx.Cast("int32", x[n, ih, iw, ic]) - zp, tirx.const(0, "int32"))

    if depth_multiplier is None:
        # Grouped convolution when the filter sees fewer channels than the input has
        # (reference_integer_ops::ConvPerChannel: groups = input depth / filter depth).
        filter_c = int(w.shape[3])
        per_group = int(out_shape[3]) // (in_c // filter_c)
        ric = te.reduce_axis((0, filter_c), "ic")

        def acc_f(n, oh, ow, oc):
            ic = ric if filter_c == in_c else (oc // per_group) * filter_c + ric
            _, xv = tap(n, oh, ow, ic, rkh, rkw)
            return te.sum(xv * tirx.Cast("int32", w[oc, rkh, rkw, ric]), axis=[rkh, rkw, ric])
    else:
        def acc_f(n, oh, ow, oc):
            _, xv = tap(n, oh, ow, oc // depth_multiplier, rkh, rkw)
            return te.sum(xv * tirx.Cast("int32", w[0, rkh, rkw, oc]), axis=[rkh, rkw])

    acc = te.compute(out_shape, acc_f, name="conv_acc")
    return _epilogue(acc, bias, rq, rq_tensors, zp_out, lo, hi, out_dtype, out_shape, 3)


def transpose_conv_pads(padding: int, out_size: int, in_size: int, kernel: int, stride: int) -> int:
    """TFLite's ComputePaddingHeightWidth as transpose_conv.cc calls it (on the output size)."""
    from tflite.Padding import Padding

    unused = (out_size + stride - 1) // stride if padding == Padding.SAME else (out_size + stride - kernel) // stride
    return max(0, (unused - 1) * stride + kernel - out_size) // 2


def transpose_conv_te(x, w, bias, rq_tensors, *, rq: ChannelRequant, strides, pads, zp_in: int, zp_out: int,
                      lo: int, hi: int, out_shape):
    """TFLite's reference_integer_ops::TransposeConv, as a gather: output (oy, ox) collects input
    (iy, ix) through tap (ky, kx) when iy * stride - pad + ky == oy. Weights OHWI."""
    _, in_h, in_w, in_c = (int(d) for d in x.shape)
    sh, sw = strides
    pad_top, pad_left = pads
    kh_n, kw_n = int(w.shape[1]), int(w.shape[2])
    rkh = te.reduce_axis((0, kh_n), "kh")
    rkw = te.reduce_axis((0, kw_n), "kw")
    ric = te.reduce_axis((0, in_c), "ic")
    i32 = lambda v: tirx.const(v, "int32")  # noqa: E731

    def acc_f(n, oy, ox, oc):
        ty = oy + pad_top - rkh
        tx = ox + pad_left - rkw
        iy, ix = tirx.truncdiv(ty, sh), tirx.truncdiv(tx, sw)
        inside = tirx.all(ty >= 0, tirx.truncmod(ty, sh) == 0, iy < in_h, tx >= 0, tirx.truncmod(tx, sw) == 0, ix < in_w)
        xv = tirx.if_then_else(inside, tirx.Cast("int32", x[n, iy, ix, ric]) - i32(zp_in), i32(0))
        return te.sum(xv * tirx.Cast("int32", w[oc, rkh, rkw, ric]), axis=[rkh, rkw, ric])

    acc = te.compute(out_shape, acc_f, name="transpose_conv_acc")
    return _epilogue(acc, bias, rq, rq_tensors, zp_out, lo, hi, "int8", out_shape, 3)


def fully_connected_te(x, w, bias, rq_tensors, *, rq: ChannelRequant, zp_in: int, zp_out: int, lo: int, hi: int, out_dtype: str):
    batch, in_c = (int(d) for d in x.shape)
    out_c = int(w.shape[0])
    ric = te.reduce_axis((0, in_c), "ic")
    zp = tirx.const(zp_in, "int32")
    acc = te.compute(
        (batch, out_c),
        lambda b, oc: te.sum((tirx.Cast("int32", x[b, ric]) - zp) * tirx.Cast("int32", w[oc, ric]), axis=[ric]),
        name="fc_acc",
    )
    # LiteRT's reference FULLY_CONNECTED rounds once (measured: double rounding is off by 1 LSB).
    return _epilogue(acc, bias, rq, rq_tensors, zp_out, lo, hi, out_dtype, (batch, out_c), 1, single_rounding=True)


def batch_matmul_te(lhs, rhs, *, adj_x: bool, adj_y: bool, zp_l: int, zp_r: int, multiplier: int, shift: int,
                    zp_out: int, out_shape):
    """TFLite's int8 BatchMatMul: (lhs - zp_l) x (rhs - zp_r) summed over K in int32, requantized,
    offset, clamped; batch dimensions broadcast (right-aligned)."""
    i32 = lambda v: tirx.const(v, "int32")  # noqa: E731
    depth = int(lhs.shape[-2] if adj_x else lhs.shape[-1])
    rk = te.reduce_axis((0, depth), "k")

    def batch_index(t, b):
        shape = [int(d) for d in t.shape[:-2]]
        lead = len(b) - len(shape)
        return [0 if d == 1 else b[lead + k] for k, d in enumerate(shape)]

    def acc_f(*idx):
        b, i, j = idx[:-2], idx[-2], idx[-1]
        lv = lhs[(*batch_index(lhs, b), rk, i)] if adj_x else lhs[(*batch_index(lhs, b), i, rk)]
        rv = rhs[(*batch_index(rhs, b), j, rk)] if adj_y else rhs[(*batch_index(rhs, b), rk, j)]
        return te.sum((tirx.Cast("int32", lv) - i32(zp_l)) * (tirx.Cast("int32", rv) - i32(zp_r)), axis=rk)

    acc = te.compute(out_shape, acc_f, name="batch_matmul_acc")

    def f(*idx):
        v = requantize(acc(*idx), i32(multiplier), i32(shift)) + i32(zp_out)
        return tirx.Cast("int8", tirx.max(tirx.min(v, i32(127)), i32(-128)))

    return te.compute(out_shape, f, name="batch_matmul")


def _broadcast(t, idx):
    """t's element for output index idx under numpy broadcasting (right-aligned, 1 repeats)."""
    shape = [int(d) for d in t.shape]
    lead = len(idx) - len(shape)
    return t[tuple(0 if d == 1 else idx[lead + k] for k, d in enumerate(shape))]


def add_te(a, b, params: dict, out_dtype: str, out_shape, subtract: bool = False):
    """TFLite's int8 AddElementwise / SubElementwise (Broadcast*6DSlow when shapes differ): both
    inputs rescaled to a common 2^20-scaled base."""
    p = {k: tirx.const(v, "int32") for k, v in params.items()}

    def f(*idx):
        sa = requantize((tirx.Cast("int32", _broadcast(a, idx)) - p["zp1"]) * p["one_shl"], p["m1"], p["s1"])
        sb = requantize((tirx.Cast("int32", _broadcast(b, idx)) - p["zp2"]) * p["one_shl"], p["m2"], p["s2"])
        v = requantize(sa - sb if subtract else sa + sb, p["mo"], p["so"]) + p["zpo"]
        return tirx.Cast(out_dtype, tirx.max(tirx.min(v, p["hi"]), p["lo"]))

    return te.compute(out_shape, f, name="sub" if subtract else "add")


def squared_difference_te(a, b, params: dict, out_shape):
    """TFLite's int8 SquaredDifference: both inputs shifted left 7 and rescaled to a common base,
    the difference squared in int32, requantized, offset, clamped."""
    p = {k: tirx.const(v, "int32") for k, v in params.items()}

    def f(*idx):
        sa = requantize((tirx.Cast("int32", _broadcast(a, idx)) - p["zp1"]) * p["one_shl"], p["m1"], p["s1"])
        sb = requantize((tirx.Cast("int32", _broadcast(b, idx)) - p["zp2"]) * p["one_shl"], p["m2"], p["s2"])
        d = sa - sb
        v = requantize(d * d, p["mo"], p["so"]) + p["zpo"]
        return tirx.Cast("int8", tirx.max(tirx.min(v, tirx.const(127, "int32")), tirx.const(-128, "int32")))

    return te.compute(out_shape, f, name="squared_difference")


def mul_te(a, b, zp1: int, zp2: int, multiplier: int, shift: int, zp_out: int, lo: int, hi: int, out_shape):
    """TFLite's int8 MulElementwise: (a - zp1) * (b - zp2) requantized, offset, clamped."""
    i32 = lambda v: tirx.const(v, "int32")  # noqa: E731

    def f(*idx):
        prod = (tirx.Cast("int32", _broadcast(a, idx)) - i32(zp1)) * (tirx.Cast("int32", _broadcast(b, idx)) - i32(zp2))
        v = requantize(prod, i32(multiplier), i32(shift)) + i32(zp_out)
        return tirx.Cast("int8", tirx.max(tirx.min(v, i32(hi)), i32(lo)))

    return te.compute(out_shape, f, name="mul")


def prelu_te(x, alpha, zp_in: int, zp_alpha: int, zp_out: int, identity: tuple[int, int], negative: tuple[int, int]):
    """TFLite's int8 PRELU (BroadcastPrelu4DSlow): x - zp_in rescaled as is when >= 0, else times
    (alpha - zp_alpha) with the second multiplier; offset and clamped to int8."""
    i32 = lambda v: tirx.const(v, "int32")  # noqa: E731

    def f(*idx):
        d = tirx.Cast("int32", x(*idx)) - i32(zp_in)
        a = tirx.Cast("int32", _broadcast(alpha, idx)) - i32(zp_alpha)
        v = tirx.Select(d >= i32(0), requantize(d, i32(identity[0]), i32(identity[1])),
                        requantize(d * a, i32(negative[0]), i32(negative[1]))) + i32(zp_out)
        return tirx.Cast("int8", tirx.max(tirx.min(v, i32(127)), i32(-128)))

    return te.compute(x.shape, f, name="prelu")


def min_max_te(a, b, maximum: bool, out_shape):
    """TFLite's MAXIMUM / MINIMUM on int8 compare the stored values as they are."""
    op = tirx.max if maximum else tirx.min
    return te.compute(out_shape, lambda *idx: op(_broadcast(a, idx), _broadcast(b, idx)),
                      name="maximum" if maximum else "minimum")


def rescale_te(x, zp_in: int, zp_out: int, lo: int, hi: int, identity: tuple[int, int],
               negative: tuple[int, int] | None = None, absolute: bool = False):
    """zp_out + requantize(x - zp_in) clamped to [lo, hi]: TFLite's ReluX, Requantize (QUANTIZE
    int8 -> int8), with a second (multiplier, shift) for x < zp_in QuantizeLeakyRelu, and with
    |x - zp_in| the int8 ABS."""
    i32 = lambda v: tirx.const(v, "int32")  # noqa: E731

    def f(*idx):
        d = tirx.Cast("int32", x(*idx)) - i32(zp_in)
        if absolute:
            d = tirx.max(d, i32(0) - d)
        v = requantize(d, i32(identity[0]), i32(identity[1]))
        if negative is not None:
            v = tirx.Select(d >= i32(0), v, requantize(d, i32(negative[0]), i32(negative[1])))
        v = v + i32(zp_out)
        return tirx.Cast("int8", tirx.max(tirx.min(v, i32(hi)), i32(lo)))

    return te.compute(x.shape, f, name="rescale")


def softmax_te(x, multiplier: int, left_shift: int, diff_min: int):
    """int8 softmax over the last axis, TFLite's reference integer kernel (no float anywhere):
    row max, exps of the differences summed in Q12.19, each exp times the sum's reciprocal."""
    shape = list(x.shape)
    depth = int(shape[-1])
    i32 = lambda v: tirx.const(v, "int32")  # noqa: E731
    rmax = te.reduce_axis((0, depth), "c")
    row_max = te.compute(shape[:-1], lambda *i: te.max(x[(*i, rmax)], axis=rmax), name="row_max")

    def exp_at(*idx):
        diff = tirx.Cast("int32", x[idx]) - tirx.Cast("int32", row_max[idx[:-1]])
        return c_helpers.call("int32", "softmax_exp", diff, i32(multiplier), i32(left_shift), i32(diff_min))

    rsum = te.reduce_axis((0, depth), "c")
    # gemmlowp::Rescale<12> of each Q0.31 exp: a rounding shift right by 12.
    total = te.compute(shape[:-1], lambda *i: te.sum(
        c_helpers.call("int32", "rdbpot", exp_at(*i, rsum), i32(12)), axis=rsum), name="sum_of_exps")
    return te.compute(shape, lambda *idx: tirx.Cast(
        "int8", c_helpers.call("int32", "softmax_out", exp_at(*idx), total[idx[:-1]])), name="softmax")


def _reduction(x, axes: list[int], keep_dims: bool, body, name: str):
    """te.compute of body(element) reduced over `axes` (body gets x at the reduced position)."""
    shape = [int(d) for d in x.shape]
    reduce = {a: te.reduce_axis((0, shape[a]), f"r{a}") for a in axes}
    kept = [a for a in range(len(shape)) if a not in reduce]
    out_shape = [1 if a in reduce else shape[a] for a in range(len(shape))] if keep_dims else [shape[a] for a in kept]

    def source_index(idx):
        it = iter(idx) if not keep_dims else None
        return tuple(reduce[a] if a in reduce else (idx[a] if keep_dims else next(it)) for a in range(len(shape)))

    return te.compute(out_shape, lambda *idx: body(x[source_index(idx)], list(reduce.values())), name=name)


def mean_te(x, axes: list[int], keep_dims: bool, multiplier: int, shift: int, zp_in: int, zp_out: int):
    """int8 MEAN over `axes`: the sum of (x - zp_in), requantized once by (in/out scale)/count."""
    acc = _reduction(x, axes, keep_dims, lambda v, ax: te.sum(tirx.Cast("int32", v) - tirx.const(zp_in, "int32"), axis=ax),
                     "mean_acc")
    out_shape = [int(d) for d in acc.shape]

    def f(*idx):
        v = requantize(acc(*idx), tirx.const(multiplier, "int32"), tirx.const(shift, "int32")) + tirx.const(zp_out, "int32")
        return tirx.Cast("int8", tirx.max(tirx.min(v, tirx.const(127, "int32")), tirx.const(-128, "int32")))

    return te.compute(out_shape, f, name="mean")


def reduce_max_min_te(x, axes: list[int], keep_dims: bool, maximum: bool):
    """TFLite's int8 REDUCE_MAX / REDUCE_MIN compare the stored values."""
    op = te.max if maximum else te.min
    return _reduction(x, axes, keep_dims, lambda v, ax: op(v, axis=ax), "reduce_max" if maximum else "reduce_min")


def resize_nearest_indices(in_size: int, out_size: int, align_corners: bool, half_pixel_centers: bool) -> np.ndarray:
    """TFLite's GetNearestNeighbor for every output position, in its float32 arithmetic."""
    if align_corners and out_size > 1:
        scale = np.float32(in_size - 1) / np.float32(out_size - 1)
    else:
        scale = np.float32(in_size) / np.float32(out_size)
    pos = (np.arange(out_size, dtype=np.float32) + np.float32(0.5 if half_pixel_centers else 0.0)) * scale
    pos = pos.astype(np.float32)
    idx = np.sign(pos) * np.floor(np.abs(pos) + np.float32(0.5)) if align_corners else np.floor(pos)
    idx = np.minimum(idx.astype(np.int64), in_size - 1)
    return np.maximum(idx, 0).astype(np.int32) if half_pixel_centers else idx.astype(np.int32)


def resize_nearest_te(x, rows, cols, out_shape):
    """NHWC nearest-neighbour resize through per-row and per-column source tables."""
    return te.compute(out_shape, lambda n, y, x_, c: x[n, rows[y], cols[x_], c], name="resize_nearest")


def space_to_batch_te(x, block, pads, pad_value, out_shape):
    """TFLite's SpaceToBatchND (NHWC): output batch (shift_h * bw + shift_w) * B + b holds the
    padded input's pixels at (oy * bh + shift_h, ox * bw + shift_w); padding reads pad_value."""
    batch, in_h, in_w = (int(d) for d in x.shape[:3])
    (bh, bw), ((pt, _), (pl, _)) = block, pads

    def f(ob, oy, ox, c):
        b = tirx.truncmod(ob, batch)
        shift_w = tirx.truncmod(tirx.truncdiv(ob, batch), bw)
        shift_h = tirx.truncdiv(tirx.truncdiv(ob, batch), bw)
        iy = oy * bh + shift_h - pt
        ix = ox * bw + shift_w - pl
        inside = tirx.all(iy >= 0, iy < in_h, ix >= 0, ix < in_w)
        return tirx.if_then_else(inside, x[b, iy, ix, c], tirx.const(pad_value, x.dtype))

    return te.compute(out_shape, f, name="space_to_batch")


def batch_to_space_te(x, block, crops, out_shape):
    """TFLite's BatchToSpaceND (NHWC), the inverse: output (oy, ox) of batch b comes from input
    batch (shift_h * bw + shift_w) * B_out + b at ((oy + crop_top) / bh, (ox + crop_left) / bw)."""
    (bh, bw), ((ct, _), (cl, _)) = block, crops
    out_batch = int(out_shape[0])

    def f(b, oy, ox, c):
        y, x_ = oy + ct, ox + cl
        ib = (tirx.truncmod(y, bh) * bw + tirx.truncmod(x_, bw)) * out_batch + b
        return x[ib, tirx.truncdiv(y, bh), tirx.truncdiv(x_, bw), c]

    return te.compute(out_shape, f, name="batch_to_space")


def quantize_float_te(x, scale: float, zero_point: int):
    """TFLite's AffineQuantize (float -> int8) by the C helper: TVM's quantize rounds halves to
    even, TFLite away from zero."""
    return te.compute(x.shape, lambda *i: tirx.Cast("int8", c_helpers.call(
        "int32", "quantize_f32_int8", x(*i), tirx.const(scale, "float32"), tirx.const(zero_point, "int32"))),
        name="quantize")


def arg_max_min_te(x, positions, axis: int, maximum: bool, out_dtype: str):
    """TFLite's ArgMinMax: the first index of the largest (smallest) value along `axis`, in the
    output's type: the extreme value, then the smallest position holding it. Positions come from
    a table (0, 1, ...): computed from the loop variable they would be int64 (call_te's index
    type), as TVM's own argmax is."""
    shape = [int(d) for d in x.shape]
    out_shape = shape[:axis] + shape[axis + 1:]
    at = lambda idx, r: x[(*idx[:axis], r, *idx[axis:])]  # noqa: E731
    r1 = te.reduce_axis((0, shape[axis]), "r")
    extreme = te.compute(out_shape, lambda *i: (te.max if maximum else te.min)(at(i, r1), axis=r1), name="extreme")
    r2 = te.reduce_axis((0, shape[axis]), "r")
    first = te.compute(out_shape, lambda *i: te.min(tirx.Select(
        at(i, r2) == extreme(*i), positions[r2], tirx.const(shape[axis], "int32")), axis=r2), name="first")
    return te.compute(out_shape, lambda *i: tirx.Cast(out_dtype, first(*i)), name="arg_index")


def lut_te(x, table):
    """out = table[x + 128]: an int8 -> int8 function of one byte, tabulated at compile time."""
    return te.compute(x.shape, lambda *i: table[tirx.Cast("int32", x(*i)) + tirx.const(128, "int32")], name="lut")


# ---------------------------------- tables of int8 -> int8 functions (computed at compile time)


def populate_lut(in_scale: np.float32, zp_in: int, out_scale: np.float32, zp_out: int, transform) -> np.ndarray:
    """TFLite's LUTPopulate<int8_t> in float32, as its int8 LOGISTIC, TANH, GELU, EXP, LOG and RSQRT
    kernels build their table: dequantize, transform, multiply by 1/out_scale, TfLiteRound, add the
    zero point, cast, clamp. The table is computed here, at compile time; the generated code only
    indexes it."""
    q = np.arange(-128, 128, dtype=np.int32)
    with np.errstate(all="ignore"):
        x = (np.float32(in_scale) * (q - zp_in).astype(np.float32)).astype(np.float32)
        y = np.asarray(transform(x), dtype=np.float32) * np.float32(np.float32(1) / np.float32(out_scale))
        rounded = (np.sign(y) * np.floor(np.abs(y) + np.float32(0.5))).astype(np.float32)
        total = (rounded + np.float32(zp_out)).astype(np.float32)
    # static_cast<int32_t> of NaN, inf or out-of-range floats gives INT32_MIN on the reference's
    # x86 build (cvttss2si): such entries clamp to -128 (log of 0, exp overflow).
    valid = np.isfinite(total) & (np.abs(total) < 2.0**31)
    cast = np.where(valid, total, -(2.0**31)).astype(np.int64)
    return np.clip(cast, -128, 127).astype(np.int8)


def _gelu(approximate: bool):
    def exact(x):
        erf = np.vectorize(lambda v: np.float32(math.erf(float(v))), otypes=[np.float32])
        return np.float32(0.5) * x * (np.float32(1) + erf(x * np.float32(1 / math.sqrt(2))))

    def tanh_form(x):
        inner = np.float32(math.sqrt(2 / math.pi)) * (x + np.float32(0.044715) * x * x * x)
        return np.float32(0.5) * x * (np.float32(1) + np.tanh(inner))

    return tanh_form if approximate else exact


# ---- TFLite's int8 HARD_SWISH, emulated in Python integers (16-bit gemmlowp arithmetic)


I16_MIN, I16_MAX = -(1 << 15), (1 << 15) - 1


def _srdhm16(a, b):
    """gemmlowp's SaturatingRoundingDoublingHighMul on int16."""
    if a == b == I16_MIN:
        return I16_MAX
    ab = a * b
    nudge = (1 << 14) if ab >= 0 else 1 - (1 << 14)
    v = ab + nudge
    q = abs(v) // (1 << 15)
    return ((q if v >= 0 else -q) + 2**15) % 2**16 - 2**15


def _sdhm16(a, b):
    """hard_swish.h SaturatingDoublingHighMul: the same without rounding."""
    if a == b == I16_MIN:
        return I16_MAX
    ab = a * b
    q = abs(ab) // (1 << 15)
    return ((q if ab >= 0 else -q) + 2**15) % 2**16 - 2**15


def _sat_shl16(v, amount):
    return max(I16_MIN, min(I16_MAX, v * (1 << amount)))


def _rdbpot(x, e):
    """gemmlowp's RoundingDivideByPOT."""
    mask = (1 << e) - 1
    return (x >> e) + ((x & mask) > (mask >> 1) + (x < 0))


def _down16(m):
    """DownScaleInt32ToInt16Multiplier."""
    if m >= 2**31 - 1 - (1 << 15):
        return I16_MAX
    return (m + (1 << 15)) >> 16


def hard_swish_table(in_scale, zp_in, out_scale, zp_out) -> np.ndarray:
    """TFLite's int8 HardSwish (HardSwishPrepare + reference_ops::HardSwish, 16-bit fixed point)
    evaluated for all 256 input bytes at compile time."""
    hires = np.float32(np.float32(1.0 / 128.0) * np.float32(in_scale))
    out_m, out_e = quantize_multiplier(float(np.float32(hires / np.float32(out_scale))))
    rel_m, rel_e = quantize_multiplier(float(np.float32(hires / np.float32(np.float32(3.0) / np.float32(32768.0)))))
    if out_e > 0:
        raise UnsupportedModelError("int8 HARD_SWISH with output scale < input scale / 128 (TFLite refuses it)")
    out_m16, rel_m16 = _down16(out_m), _down16(rel_m)
    table = []
    for q in range(-128, 128):
        x = q - zp_in
        hi = x * 128
        pre = _srdhm16(hi, out_m16)
        r = hi
        if rel_e > 0:
            r = _sat_shl16(r, rel_e - 1)
        r = _srdhm16(r, rel_m16)
        if rel_e > 0:
            r = _sat_shl16(r, 1)
        if rel_e < 0:
            r = _rdbpot(r, -rel_e)
        r = (r + (1 << 15)) >> 1
        o = _rdbpot(_sdhm16(r, pre), -out_e) + zp_out
        table.append(max(-128, min(127, o)))
    return np.array(table, np.int8)


# ------------------------------------------------------------------------------- the converters


class IntegerConverters:
    """Mixed into TVM's TFLite OperatorConverter (see frontend.py): int8 ops in integers."""

    # TFLite operator -> the method computing it in integers (int8 in, int8 out). A method may
    # return NotImplemented for a case it does not cover: TVM's converter then takes it.
    INTEGER_CONVERTERS = {
        "CONV_2D": "_int_conv2d", "DEPTHWISE_CONV_2D": "_int_depthwise", "TRANSPOSE_CONV": "_int_transpose_conv",
        "FULLY_CONNECTED": "_int_fully_connected", "BATCH_MATMUL": "_int_batch_matmul",
        "ADD": "_int_add", "SUB": "_int_sub", "MUL": "_int_mul", "SQUARED_DIFFERENCE": "_int_squared_difference", "MAXIMUM": "_int_maximum", "MINIMUM": "_int_minimum",
        "AVERAGE_POOL_2D": "_int_avg_pool", "MEAN": "_int_mean", "REDUCE_MAX": "_int_reduce_max",
        "REDUCE_MIN": "_int_reduce_min", "SOFTMAX": "_int_softmax",
        "RELU": "_int_relu", "RELU6": "_int_relu6", "RELU_N1_TO_1": "_int_relu_n1_to_1", "LEAKY_RELU": "_int_leaky_relu",
        "ABS": "_int_abs", "NEG": "_int_neg", "QUANTIZE": "_int_quantize", "PRELU": "_int_prelu",
        "LOGISTIC": "_int_logistic", "TANH": "_int_tanh", "GELU": "_int_gelu", "EXP": "_int_exp", "LOG": "_int_log",
        "RSQRT": "_int_rsqrt",
        "HARD_SWISH": "_int_hard_swish",
        "CONCATENATION": "_int_concat", "RESIZE_NEAREST_NEIGHBOR": "_int_resize_nearest",
    }

    def install_integer_converters(self) -> None:
        for name, method in self.INTEGER_CONVERTERS.items():
            self.convert_map[name] = self._integer_or(getattr(self, method), self.convert_map[name])
        self.convert_map["QUANTIZE"] = self._float_quantize_or(self.convert_map["QUANTIZE"])
        self.convert_map["ARG_MAX"] = lambda op: self._arg_max_min(op, maximum=True)
        self.convert_map["ARG_MIN"] = lambda op: self._arg_max_min(op, maximum=False)

    def _arg_max_min(self, op, maximum: bool):
        """Any input type: the stored values compare as the real ones do (scales are positive)."""
        ins, outs = self.get_input_tensors(op), self.get_output_tensors(op)
        if self.has_expr(ins[1].tensor_idx):
            raise UnsupportedModelError(f"{self.get_op_code_str(op)} with an axis computed at run time")
        rank = len(ins[0].tensor.ShapeAsNumpy())
        axis = int(np.asarray(self.get_tensor_value(ins[1])).reshape(-1)[0]) % rank
        out_dtype = self.get_tensor_type_str(outs[0].tensor.Type())
        if out_dtype not in ("int32", "int16", "int8", "uint8"):
            raise UnsupportedModelError(f"{self.get_op_code_str(op)} with {out_dtype} indices (int32 expected)")
        positions = np.arange(int(ins[0].tensor.ShapeAsNumpy()[axis]), dtype=np.int32)
        return self.bb.call_te(lambda x_, p_: arg_max_min_te(x_, p_, axis, maximum, out_dtype), self._expr(ins[0]),
                               relax.const(positions), primfunc_name_hint="arg_max" if maximum else "arg_min")

    def _float_quantize_or(self, other):
        """QUANTIZE float32 -> int8 (a model's float input) rounded as TFLite rounds."""
        def convert(op):
            ins, outs = self.get_input_tensors(op), self.get_output_tensors(op)
            if ins[0].tensor.Type() == 0 and outs[0].tensor.Type() == 9 and outs[0].qnn_params is not None:
                s, z, _ = _tensor_quant(outs[0])
                if s.size == 1:
                    return self.bb.call_te(lambda x_: quantize_float_te(x_, float(s[0]), int(z[0])),
                                           self._expr(ins[0]), primfunc_name_hint="quantize")
            return other(op)

        return convert

    def _integer_or(self, method, fallback):
        def convert(op):
            ins = self.get_input_tensors(op)
            outs = self.get_output_tensors(op)
            # The activation input: the first, but TRANSPOSE_CONV's is its third (after the shape
            # and the weights).
            data = ins[2:3] if self.get_op_code_str(op) == "TRANSPOSE_CONV" else ins[:1]
            types = [t.tensor.Type() for t in data + outs]
            int8 = 9  # tflite.TensorType.INT8
            if all(t == int8 for t in types) and all(t.qnn_params is not None for t in data + outs):
                result = method(op, ins, outs)
                if result is not NotImplemented:
                    return result
            name = self.get_op_code_str(op)
            if name in INTEGER_ONLY_INT8_OPS and any(t.qnn_params is not None for t in ins[:1] + outs):
                # TVM's own converter would apply the float op to the stored integers.
                raise UnsupportedModelError(f"quantized {name} other than int8 in, int8 out")
            return fallback(op)

        return convert

    # -- helpers
    def _io_quant(self, ins, outs):
        si, zi, _ = _tensor_quant(ins[0])
        so, zo, _ = _tensor_quant(outs[0])
        return si[0], int(zi[0]), so[0], int(zo[0])

    def _weights(self, op, tensor):
        if self.has_expr(tensor.tensor_idx):
            raise UnsupportedModelError("quantized weights computed at run time (not constants)")
        w = self.get_tensor_value(tensor)
        ws, wz, wdim = _tensor_quant(tensor)
        if np.any(wz != 0):
            raise UnsupportedModelError("int8 weights with a non-zero zero point (asymmetric weights)")
        return w, ws, wdim

    def _bias(self, ins, channels: int) -> np.ndarray:
        if len(ins) < 3 or ins[2].tensor_idx == -1:
            return np.zeros(channels, dtype="int32")
        b = self.get_tensor_value(ins[2])
        if b.dtype != np.int32:
            raise UnsupportedModelError(f"quantized bias of type {b.dtype} (int32 expected)")
        return b.reshape(channels)

    def _expr(self, tensor):
        """The tensor's Relax value: a bound variable or a constant (see frontend.Converter)."""
        return self.get_tensor_expr(tensor)

    def _options(self, op, cls):
        """The op's builtin options as `cls`; an absent table reads as all schema defaults
        (converters may omit e.g. AddOptions when there is no fused activation)."""
        o = op.BuiltinOptions()
        if o is None:
            import flatbuffers
            import tflite

            b = flatbuffers.Builder(0)
            getattr(tflite, f"{cls.__name__}Start")(b)
            b.Finish(getattr(tflite, f"{cls.__name__}End")(b))
            return cls.GetRootAs(b.Output(), 0)
        opts = cls()
        opts.Init(o.Bytes, o.Pos)
        return opts

    # -- operators
    def _int_conv2d(self, op, ins, outs):
        from tflite.Conv2DOptions import Conv2DOptions

        return self._conv(op, ins, outs, self._options(op, Conv2DOptions), depthwise=False)

    def _int_depthwise(self, op, ins, outs):
        from tflite.DepthwiseConv2DOptions import DepthwiseConv2DOptions

        return self._conv(op, ins, outs, self._options(op, DepthwiseConv2DOptions), depthwise=True)

    def _conv(self, op, ins, outs, opts, depthwise: bool):
        from tflite.Padding import Padding

        from tvm.relax.frontend.tflite.tflite_frontend import get_pad_value

        si, zi, so, zo = self._io_quant(ins, outs)
        w, ws, _ = self._weights(op, ins[1])
        out_shape = [int(d) for d in outs[0].tensor.ShapeAsNumpy()]
        in_shape = [int(d) for d in ins[0].tensor.ShapeAsNumpy()]
        out_c = out_shape[3]
        bias, rq = requant_tables(w, 3 if depthwise else 0, self._bias(ins, out_c),
                                  *output_requant_params(si, ws, so, out_c))
        lo, hi = activation_range(opts.FusedActivationFunction(), float(so), zo, "int8")
        strides = (opts.StrideH(), opts.StrideW())
        dilation = (opts.DilationHFactor(), opts.DilationWFactor())
        kh, kw = int(w.shape[1]), int(w.shape[2])
        pads = (0, 0)
        if opts.Padding() == Padding.SAME:
            pt, _ = get_pad_value(in_shape[1], dilation[0] * (kh - 1) + 1, strides[0])
            pl, _ = get_pad_value(in_shape[2], dilation[1] * (kw - 1) + 1, strides[1])
            pads = (pt, pl)
        dm = opts.DepthMultiplier() if depthwise else None
        if not depthwise and (in_shape[3] % int(w.shape[3]) or out_c % (in_shape[3] // int(w.shape[3]))):
            raise UnsupportedModelError("int8 CONV_2D whose filter depth does not divide the input channels into groups")
        x = self._expr(ins[0])
        return self.bb.call_te(
            lambda x_, w_, b_, *r_: conv2d_te(
                x_, w_, b_, r_, rq=rq, strides=strides, dilation=dilation, pads=pads, zp_in=zi, zp_out=zo,
                lo=lo, hi=hi, out_shape=out_shape, depth_multiplier=dm, out_dtype="int8"),
            x, relax.const(w), relax.const(bias), *map(relax.const, rq.tensors),
            primfunc_name_hint="dwconv2d_int8" if depthwise else "conv2d_int8",
        )

    # -- layout ops TVM 0.27 lowers to packed runtime calls (no C kernel): any dtype
    def _block_layout(self, op):
        ins, outs = self.get_input_tensors(op), self.get_output_tensors(op)
        if len(ins[0].tensor.ShapeAsNumpy()) != 4 or any(self.has_expr(t.tensor_idx) for t in ins[1:]):
            raise UnsupportedModelError(f"{self.get_op_code_str(op)} other than 4-D with constant block and paddings")
        block = [int(v) for v in self.get_tensor_value(ins[1])]
        pads = [[int(a), int(b)] for a, b in self.get_tensor_value(ins[2]).reshape(2, 2)]
        return ins, outs, block, pads, [int(d) for d in outs[0].tensor.ShapeAsNumpy()]

    def convert_space_to_batch_nd(self, op):
        ins, outs, block, pads, out_shape = self._block_layout(op)
        # Quantized tensors pad with the output zero point (space_to_batch_nd.cc), floats with 0.
        pad_value = int(_tensor_quant(outs[0])[1][0]) if outs[0].qnn_params is not None else 0
        return self.bb.call_te(lambda x_: space_to_batch_te(x_, block, pads, pad_value, out_shape),
                               self._expr(ins[0]), primfunc_name_hint="space_to_batch_nd")

    def convert_batch_to_space_nd(self, op):
        ins, _, block, crops, out_shape = self._block_layout(op)
        return self.bb.call_te(lambda x_: batch_to_space_te(x_, block, crops, out_shape), self._expr(ins[0]),
                               primfunc_name_hint="batch_to_space_nd")

    def _int_transpose_conv(self, op, ins, outs):
        from tflite.TransposeConvOptions import TransposeConvOptions

        opts = self._options(op, TransposeConvOptions)
        x_t = ins[2]
        si, zi, so, zo = self._io_quant([x_t], outs)
        w, ws, _ = self._weights(op, ins[1])
        out_shape = [int(d) for d in outs[0].tensor.ShapeAsNumpy()]
        in_shape = [int(d) for d in x_t.tensor.ShapeAsNumpy()]
        out_c = out_shape[3]
        kh, kw = int(w.shape[1]), int(w.shape[2])
        strides = (opts.StrideH(), opts.StrideW())
        pads = (transpose_conv_pads(opts.Padding(), out_shape[1], in_shape[1], kh, strides[0]),
                transpose_conv_pads(opts.Padding(), out_shape[2], in_shape[2], kw, strides[1]))
        lo, hi = activation_range(opts.FusedActivationFunction(), float(so), zo, "int8")
        bias = self._bias(ins[:1] + ins[1:2] + ins[3:4], out_c)  # the bias is the 4th input here
        bias, rq = requant_tables(w, 0, bias, *output_requant_params(si, ws, so, out_c))
        return self.bb.call_te(
            lambda x_, w_, b_, *r_: transpose_conv_te(x_, w_, b_, r_, rq=rq, strides=strides, pads=pads, zp_in=zi,
                                                      zp_out=zo, lo=lo, hi=hi, out_shape=out_shape),
            self._expr(x_t), relax.const(w), relax.const(bias), *map(relax.const, rq.tensors),
            primfunc_name_hint="transpose_conv_int8")

    def _int_fully_connected(self, op, ins, outs):
        from tflite.FullyConnectedOptions import FullyConnectedOptions

        opts = self._options(op, FullyConnectedOptions)
        si, zi, so, zo = self._io_quant(ins, outs)
        w, ws, _ = self._weights(op, ins[1])
        out_c, in_c = int(w.shape[0]), int(w.shape[1])
        bias, rq = requant_tables(w, 0, self._bias(ins, out_c),
                                  *output_requant_params(si, ws, so, out_c),
                                  single_rounding=True)
        lo, hi = activation_range(opts.FusedActivationFunction(), float(so), zo, "int8")
        x = self._expr(ins[0])
        in_shape = [int(d) for d in ins[0].tensor.ShapeAsNumpy()]
        flat = [int(np.prod(in_shape)) // in_c, in_c]
        # A no-op reshape would survive fusion as a copy kernel.
        x2 = x if in_shape == flat else self.bb.emit(relax.op.reshape(x, flat))
        y = self.bb.call_te(
            lambda x_, w_, b_, *r_: fully_connected_te(x_, w_, b_, r_, rq=rq, zp_in=zi, zp_out=zo, lo=lo, hi=hi, out_dtype="int8"),
            x2, relax.const(w), relax.const(bias), *map(relax.const, rq.tensors),
            primfunc_name_hint="fully_connected_int8",
        )
        out_shape = [int(d) for d in outs[0].tensor.ShapeAsNumpy()]
        return y if out_shape == flat[:1] + [out_c] else relax.op.reshape(y, out_shape)

    def _int_batch_matmul(self, op, ins, outs):
        from tflite.BatchMatMulOptions import BatchMatMulOptions

        if ins[1].qnn_params is None or ins[1].tensor.Type() != 9:
            return NotImplemented
        opts = self._options(op, BatchMatMulOptions)
        sl, zl, so, zo = self._io_quant(ins, outs)
        sr, zr, _ = _tensor_quant(ins[1])
        if sr.size != 1:
            raise UnsupportedModelError("int8 BATCH_MATMUL with per-channel quantization")
        # batch_matmul.cc: GetQuantizedConvolutionMultipler, the two scales multiplied in float.
        mult, shift = quantize_multiplier(float(np.float32(sl) * np.float32(sr[0])) / float(so))
        out_shape = [int(d) for d in outs[0].tensor.ShapeAsNumpy()]
        adj_x, adj_y = bool(opts.AdjX()), bool(opts.AdjY())
        return self.bb.call_te(
            lambda a_, b_: batch_matmul_te(a_, b_, adj_x=adj_x, adj_y=adj_y, zp_l=zl, zp_r=int(zr[0]), multiplier=mult,
                                           shift=shift, zp_out=zo, out_shape=out_shape),
            self._expr(ins[0]), self._expr(ins[1]), primfunc_name_hint="batch_matmul_int8")

    def _binary_quant(self, ins, outs):
        """((scale, zero point) of both inputs and the output, output shape) of an elementwise
        int8 op, or None when the second operand is not quantized like the first."""
        if ins[1].qnn_params is None or ins[1].tensor.Type() != ins[0].tensor.Type():
            return None
        quants = []
        for t in (ins[0], ins[1], outs[0]):
            scales, zero_points, _ = _tensor_quant(t)
            quants.append((scales[0], int(zero_points[0])))
        return (*quants, [int(d) for d in outs[0].tensor.ShapeAsNumpy()])

    def _int_add(self, op, ins, outs, subtract: bool = False):
        from tflite.AddOptions import AddOptions
        from tflite.SubOptions import SubOptions

        q = self._binary_quant(ins, outs)
        if q is None:
            return NotImplemented
        (s1, z1), (s2, z2), (so, zo), out_shape = q
        act = self._options(op, SubOptions if subtract else AddOptions).FusedActivationFunction()
        lo, hi = activation_range(act, float(so), zo, "int8")
        params = add_params(s1, z1, s2, z2, so, zo, lo, hi)
        return self.bb.call_te(lambda a_, b_: add_te(a_, b_, params, "int8", out_shape, subtract),
                               self._expr(ins[0]), self._expr(ins[1]), primfunc_name_hint="sub_int8" if subtract else "add_int8")

    def _int_squared_difference(self, op, ins, outs):
        q = self._binary_quant(ins, outs)
        if q is None:
            return NotImplemented
        (s1, z1), (s2, z2), (so, zo), out_shape = q
        params = squared_difference_params(s1, z1, s2, z2, so, zo)
        return self.bb.call_te(lambda a_, b_: squared_difference_te(a_, b_, params, out_shape), self._expr(ins[0]),
                               self._expr(ins[1]), primfunc_name_hint="squared_difference_int8")

    def _int_sub(self, op, ins, outs):
        return self._int_add(op, ins, outs, subtract=True)

    def _int_mul(self, op, ins, outs):
        from tflite.MulOptions import MulOptions

        q = self._binary_quant(ins, outs)
        if q is None:
            return NotImplemented
        (s1, z1), (s2, z2), (so, zo), out_shape = q
        lo, hi = activation_range(self._options(op, MulOptions).FusedActivationFunction(), float(so), zo, "int8")
        # mul.cc Prepare: the scales multiplied and divided in float, then widened.
        mult, shift = quantize_multiplier(float(np.float32(s1) * np.float32(s2) / np.float32(so)))
        return self.bb.call_te(
            lambda a_, b_: mul_te(a_, b_, z1, z2, mult, shift, zo, lo, hi, out_shape),
            self._expr(ins[0]), self._expr(ins[1]), primfunc_name_hint="mul_int8")

    def _int_min_max(self, op, ins, outs, maximum: bool):
        if ins[1].tensor.Type() != ins[0].tensor.Type():
            return NotImplemented
        out_shape = [int(d) for d in outs[0].tensor.ShapeAsNumpy()]
        return self.bb.call_te(lambda a_, b_: min_max_te(a_, b_, maximum, out_shape), self._expr(ins[0]),
                               self._expr(ins[1]), primfunc_name_hint="maximum_int8" if maximum else "minimum_int8")

    def _int_maximum(self, op, ins, outs):
        return self._int_min_max(op, ins, outs, maximum=True)

    def _int_minimum(self, op, ins, outs):
        return self._int_min_max(op, ins, outs, maximum=False)

    def _rescale(self, ins, outs, lo_real: float | None, hi_real: float | None, negative_factor=None,
                 absolute: bool = False):
        """ReluX (activations.cc QuantizedReluX: bounds via roundf(bound / scale) in float),
        Requantize and QuantizeLeakyRelu."""
        si, zi, so, zo = self._io_quant(ins, outs)
        ratio = float(si) / float(so)
        lo = -128 if lo_real is None else max(-128, zo + round_half_away(float(np.float32(lo_real) / so)))
        hi = 127 if hi_real is None else min(127, zo + round_half_away(float(np.float32(hi_real) / so)))
        identity = quantize_multiplier(ratio)
        negative = None
        if negative_factor is not None:  # leaky_relu.cc: input scale * alpha / output scale in float
            negative = quantize_multiplier(float(si * np.float32(negative_factor) / so))
        return self.bb.call_te(lambda x_: rescale_te(x_, zi, zo, lo, hi, identity, negative, absolute), self._expr(ins[0]),
                               primfunc_name_hint="rescale_int8")

    def _int_relu(self, op, ins, outs):
        return self._rescale(ins, outs, 0.0, None)

    def _int_relu6(self, op, ins, outs):
        return self._rescale(ins, outs, 0.0, 6.0)

    def _int_relu_n1_to_1(self, op, ins, outs):
        return self._rescale(ins, outs, -1.0, 1.0)

    def _int_prelu(self, op, ins, outs):
        if ins[1].qnn_params is None or ins[1].tensor.Type() != 9:
            return NotImplemented
        si, zi, so, zo = self._io_quant(ins, outs)
        sa, za, _ = _tensor_quant(ins[1])
        # activations.cc PreluPrepare: the scales combined in float, then widened.
        identity = quantize_multiplier(float(np.float32(si) / np.float32(so)))
        negative = quantize_multiplier(float(np.float32(si) * np.float32(sa[0]) / np.float32(so)))
        return self.bb.call_te(lambda x_, a_: prelu_te(x_, a_, zi, int(za[0]), zo, identity, negative),
                               self._expr(ins[0]), self._expr(ins[1]), primfunc_name_hint="prelu_int8")

    def _int_neg(self, op, ins, outs):
        """LiteRT negates the stored int8 values (-(-128) wraps to -128), whatever the
        quantization: the converter gives the output the negated zero point."""
        return self.bb.call_te(lambda x_: te.compute(x_.shape, lambda *i: tirx.Cast(
            "int8", tirx.const(0, "int32") - tirx.Cast("int32", x_(*i))), name="neg"), self._expr(ins[0]),
            primfunc_name_hint="neg_int8")

    def _int_abs(self, op, ins, outs):
        return self._rescale(ins, outs, None, None, absolute=True)

    def _int_exp(self, op, ins, outs):
        return self._lut(ins, outs, np.exp)

    def _int_log(self, op, ins, outs):
        return self._lut(ins, outs, np.log)  # log of 0 or below: -128, as on LiteRT (x86)

    def _int_rsqrt(self, op, ins, outs):
        """The float table, except that an input at the zero point (0.0) gives 127, as LiteRT's
        kernel does. TFLite fails at run time on negative inputs; their entries here are -128."""
        si, zi, so, zo = self._io_quant(ins, outs)
        table = populate_lut(si, zi, so, zo, lambda x: np.float32(1) / np.sqrt(x))
        table[zi + 128] = 127
        return self.bb.call_te(lut_te, self._expr(ins[0]), relax.const(table), primfunc_name_hint="rsqrt_int8")

    def _int_quantize(self, op, ins, outs):
        return self._rescale(ins, outs, None, None)

    def _lut(self, ins, outs, transform):
        si, zi, so, zo = self._io_quant(ins, outs)
        table = populate_lut(si, zi, so, zo, transform)
        return self.bb.call_te(lut_te, self._expr(ins[0]), relax.const(table), primfunc_name_hint="lut_int8")

    def _int_logistic(self, op, ins, outs):
        return self._lut(ins, outs, lambda x: np.float32(1) / (np.float32(1) + np.exp(-x)))

    def _int_tanh(self, op, ins, outs):
        return self._lut(ins, outs, np.tanh)

    def _int_gelu(self, op, ins, outs):
        from tflite.GeluOptions import GeluOptions

        approximate = bool(self._options(op, GeluOptions).Approximate())
        return self._lut(ins, outs, _gelu(approximate))

    def _int_hard_swish(self, op, ins, outs):
        si, zi, so, zo = self._io_quant(ins, outs)
        return self.bb.call_te(lut_te, self._expr(ins[0]), relax.const(hard_swish_table(si, zi, so, zo)),
                               primfunc_name_hint="hard_swish_int8")

    def _int_leaky_relu(self, op, ins, outs):
        from tflite.LeakyReluOptions import LeakyReluOptions

        return self._rescale(ins, outs, None, None, negative_factor=self._options(op, LeakyReluOptions).Alpha())

    def _int_avg_pool(self, op, ins, outs):
        """int8 in, int8 out (TVM's importer widens the whole input tensor to int32 first)."""
        from tflite.Padding import Padding
        from tflite.Pool2DOptions import Pool2DOptions

        from tvm.relax.frontend.tflite.tflite_frontend import get_pad_value

        si, zi, so, zo = self._io_quant(ins, outs)
        if si != so or zi != zo:
            return NotImplemented
        opts = self._options(op, Pool2DOptions)
        _, in_h, in_w, _ = (int(d) for d in ins[0].tensor.ShapeAsNumpy())
        kh, kw = opts.FilterHeight(), opts.FilterWidth()
        sh, sw = opts.StrideH(), opts.StrideW()
        padding = [0, 0, 0, 0]
        if opts.Padding() == Padding.SAME:
            pt, pb = get_pad_value(in_h, kh, sh)
            pl, pr = get_pad_value(in_w, kw, sw)
            padding = [pt, pl, pb, pr]
        # Legalized by lower._legalize_integer_avg_pool2d: int32 sums, TFLite rounding.
        y = relax.op.nn.avg_pool2d(self._expr(ins[0]), pool_size=(kh, kw), strides=(sh, sw), padding=padding,
                                   layout="NHWC")
        lo, hi = activation_range(opts.FusedActivationFunction(), float(so), zo, "int8")
        if (lo, hi) != (-128, 127):
            y = relax.op.clip(self.bb.emit(y), lo, hi)
        return y

    def _int_softmax(self, op, ins, outs):
        from tflite.SoftmaxOptions import SoftmaxOptions

        si, _, so, zo = self._io_quant(ins, outs)
        if zo != -128 or abs(float(so) - 1.0 / 256) > 0.001 / 256:
            # TFLite's int8 softmax accepts only this output quantization (SoftmaxPrepare).
            raise UnsupportedModelError(f"int8 SOFTMAX with output scale {so} and zero point {zo} "
                                        "(TFLite requires 1/256 and -128)")
        mult, left_shift, diff_min = softmax_params(self._options(op, SoftmaxOptions).Beta(), si)
        return self.bb.call_te(lambda x_: softmax_te(x_, mult, left_shift, diff_min), self._expr(ins[0]),
                               primfunc_name_hint="softmax_int8")

    def _int_concat(self, op, ins, outs):
        """int8 concatenation: TFLite requires every input quantized like the output, so it
        only moves bytes (TVM's converter dequantizes and requantizes through float)."""
        from tflite.ConcatenationOptions import ConcatenationOptions

        so, zo, _ = _tensor_quant(outs[0])
        for t in ins:
            s, z, _ = _tensor_quant(t) if t.qnn_params is not None else (None, None, None)
            if s is None or s.size != 1 or s[0] != so[0] or z[0] != zo[0] or t.tensor.Type() != outs[0].tensor.Type():
                return NotImplemented
        opts = self._options(op, ConcatenationOptions)
        y = relax.op.concat([self._expr(t) for t in ins], axis=opts.Axis())
        lo, hi = activation_range(opts.FusedActivationFunction(), float(so[0]), int(zo[0]), "int8")
        return y if (lo, hi) == (-128, 127) else relax.op.clip(self.bb.emit(y), lo, hi)

    def _reduce_axes(self, op, ins):
        from tflite.ReducerOptions import ReducerOptions

        if self.has_expr(ins[1].tensor_idx):
            return None, None
        rank = len(ins[0].tensor.ShapeAsNumpy())
        axes = sorted({int(a) % rank for a in np.atleast_1d(self.get_tensor_value(ins[1]))})
        keep = bool(self._options(op, ReducerOptions).KeepDims())
        return axes, keep

    def _int_reduce_max(self, op, ins, outs, maximum: bool = True):
        axes, keep = self._reduce_axes(op, ins)
        if axes is None:
            return NotImplemented
        return self.bb.call_te(lambda x_: reduce_max_min_te(x_, axes, keep, maximum), self._expr(ins[0]),
                               primfunc_name_hint="reduce_max_int8" if maximum else "reduce_min_int8")

    def _int_reduce_min(self, op, ins, outs):
        return self._int_reduce_max(op, ins, outs, maximum=False)

    def _int_resize_nearest(self, op, ins, outs):
        from tflite.ResizeNearestNeighborOptions import ResizeNearestNeighborOptions

        opts = self._options(op, ResizeNearestNeighborOptions)
        in_shape = [int(d) for d in ins[0].tensor.ShapeAsNumpy()]
        out_shape = [int(d) for d in outs[0].tensor.ShapeAsNumpy()]
        if len(in_shape) != 4 or self.has_expr(ins[1].tensor_idx):
            return NotImplemented
        align, half = bool(opts.AlignCorners()), bool(opts.HalfPixelCenters())
        rows = resize_nearest_indices(in_shape[1], out_shape[1], align, half)
        cols = resize_nearest_indices(in_shape[2], out_shape[2], align, half)
        return self.bb.call_te(lambda x_, r_, c_: resize_nearest_te(x_, r_, c_, out_shape), self._expr(ins[0]),
                               relax.const(rows), relax.const(cols), primfunc_name_hint="resize_nearest_int8")

    def _int_mean(self, op, ins, outs):
        axes, keep = self._reduce_axes(op, ins)
        if axes is None:
            return NotImplemented
        in_shape = [int(d) for d in ins[0].tensor.ShapeAsNumpy()]
        si, zi, so, zo = self._io_quant(ins, outs)
        mult, shift = mean_params(si, so, int(np.prod([in_shape[a] for a in axes])))
        return self.bb.call_te(lambda x_: mean_te(x_, axes, keep, mult, shift, zi, zo), self._expr(ins[0]),
                               primfunc_name_hint="mean_int8")
