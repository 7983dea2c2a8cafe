"""Compile-time preparation of int8 convolutions for the GEMM kernel (runtime/aotgen_conv_gemm_s8.h).

The kernel computes `bias' + sum x*w` with the input zero point folded into the bias here, once:
TFLite sums `(x + input_offset) * w` over the taps inside the image; with every outside tap
reading the input zero point (im2col pads with it, so that `x + input_offset` is 0 there) this is
`sum x*w + input_offset * sum w`. numpy only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# SMMULR(2a, m) equals SaturatingRoundingDoublingHighMul(a, m) while |a| < 2^30.
FAST_REQUANTIZE_LIMIT = 2**30


@dataclass(frozen=True)
class GemmConstants:
    weights: np.ndarray  # int8 [out_channels, K], TFLite's OHWI rows
    bias: np.ndarray  # int32 [out_channels], input zero point folded in
    rq: np.ndarray  # int32 packed (multiplier, shift) words: one per channel, or one for the layer
    rq_step: int  # 1 per channel, 0 one word for every channel
    shift_base: int  # the smallest shift; a word holds its shift minus this
    fast: bool  # the SMMULR requantization is exact for every output of this layer


def fold_bias(weights: np.ndarray, bias: np.ndarray | None, input_offset: int) -> np.ndarray:
    """bias + input_offset * sum_k w[c, k], per output channel (int32; checked to fit)."""
    rows = weights.reshape(weights.shape[0], -1).astype(np.int64)
    base = np.zeros(rows.shape[0], np.int64) if bias is None else bias.astype(np.int64)
    folded = base + input_offset * rows.sum(axis=1)
    if np.abs(folded).max(initial=0) >= 2**31:
        raise ValueError("folded bias does not fit int32")
    return folded.astype(np.int32)


def fast_requantize_holds(weights: np.ndarray, bias: np.ndarray | None, shifts: np.ndarray) -> bool:
    """Whether every `acc + bias` of the layer stays below 2^30 in magnitude, for any input
    (|x + input_offset| <= 255), and every shift is a right shift: the fast form's conditions.
    The bound is per channel: sum_k |w[c, k]| * 255 + |bias[c]|."""
    if np.any(np.asarray(shifts) > 0):
        return False
    rows = np.abs(weights.reshape(weights.shape[0], -1).astype(np.int64))
    base = np.zeros(rows.shape[0], np.int64) if bias is None else np.abs(bias.astype(np.int64))
    return bool(np.all(rows.sum(axis=1) * 255 + base < FAST_REQUANTIZE_LIMIT))


def pack_requant(mult: np.ndarray, shift: np.ndarray) -> tuple[np.ndarray, int, int] | None:
    """(words, step, base): each channel's multiplier (bit 30 set, bit 31 clear, as TFLite's
    QuantizeMultiplier makes them) in bits 0..29 and its shift minus the layer's smallest in bits
    30..31 (params.ChannelRequant's "packed" form); None when a channel does not fit that."""
    m, sh = np.asarray(mult, np.int64), np.asarray(shift, np.int64)
    if np.any(m < 2**30) or np.any(m >= 2**31) or int(sh.max()) - int(sh.min()) > 3:
        return None
    base = int(sh.min())
    words = ((m - 2**30) | ((sh - base) << 30)).astype(np.uint32).view(np.int32)
    if len(set(zip(m.tolist(), sh.tolist()))) == 1:
        return words[:1].copy(), 0, base
    return words, 1, base


def gemm_constants(weights: np.ndarray, bias: np.ndarray | None, input_offset: int, mult: np.ndarray,
                   shifts: np.ndarray) -> GemmConstants | None:
    """The kernel's constants, or None when the requantization does not pack (the layer then
    keeps its TIR kernel)."""
    packed = pack_requant(mult, shifts)
    if packed is None:
        return None
    rows = np.ascontiguousarray(weights.reshape(weights.shape[0], -1).astype(np.int8))
    return GemmConstants(rows, fold_bias(rows, bias, input_offset), *packed, fast_requantize_holds(rows, bias, shifts))
