"""Compile-time preparation of int8 convolutions for the GEMM kernel (runtime/aotgen_conv_s8.h).

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


def gemm_constants(weights: np.ndarray, bias: np.ndarray | None, input_offset: int,
                   shifts: np.ndarray) -> GemmConstants:
    rows = np.ascontiguousarray(weights.reshape(weights.shape[0], -1).astype(np.int8))
    return GemmConstants(rows, fold_bias(rows, bias, input_offset), fast_requantize_holds(rows, bias, shifts))

