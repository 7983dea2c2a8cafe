"""TFLite's quantization parameters, computed as its kernels' Prepare functions compute them, and
the compact encodings of per-channel requantization stored with a model's weights."""

from __future__ import annotations

import math

import numpy as np
from tvm import tirx

from ...errors import UnsupportedModelError
from ..conv_gemm import compact_bias

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

    def c_args(self) -> tuple[int, int, int]:
        """(mode, m0, s0) as the C kernels read the tables (aotgen_channel_requant): mode 0 one
        pair (m0, s0), 1 packed words above shift s0, 2 arrays."""
        mode = {"scalar": 0, "packed": 1, "arrays": 2}[self.kind]
        return (mode, int(self.mult[0]), int(self.shift[0])) if mode == 0 else (mode, 0, self.base)

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

