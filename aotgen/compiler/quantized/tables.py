"""Functions of one int8 byte as 256-entry tables, computed at compile time exactly as TFLite
computes them."""

from __future__ import annotations

import math

import numpy as np

from ...errors import UnsupportedModelError
from .params import quantize_multiplier

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
