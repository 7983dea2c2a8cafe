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


# K is zero-padded to a multiple of 4 (the inner loop's step) when that adds at most 1/16 to the
# weights (K = 27 of a 3x3 RGB input layer -> 28); a shorter K keeps a scalar tail instead.
PAD_K_MAX_FRACTION = 1 / 16


@dataclass(frozen=True)
class GemmConstants:
    weights: np.ndarray  # int8 [out_channels, kp], TFLite's OHWI rows, zero columns up to kp
    bias: np.ndarray  # int32 [out_channels], input zero point folded in
    rq: np.ndarray  # int32 (multiplier, shift) table, pack_requant's forms
    rq_step: int  # 0 one packed word for every channel, 1 one per channel, 2 (multiplier, shift) pairs
    shift_base: int  # the smallest shift; a packed word holds its shift minus this
    fast: bool  # the SMMULR requantization is exact for every output of this layer

    @property
    def k_padded(self) -> int:
        return int(self.weights.shape[1])

    def scratch_bytes(self, k: int, gathers_bytes: bool) -> int:
        """The kernel's scratch: two int16 rows of kp, and the K-byte gather row of an im2col
        whose input channels are not a multiple of 4."""
        return 4 * self.k_padded + (k if gathers_bytes else 0)


def padded_k(k: int) -> int:
    k4 = -(-k // 4) * 4
    return k4 if (k4 - k) <= k * PAD_K_MAX_FRACTION else k


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


def pack_requant(mult: np.ndarray, shift: np.ndarray) -> tuple[np.ndarray, int, int]:
    """(words, step, base): each channel's multiplier (bit 30 set, bit 31 clear, as TFLite's
    QuantizeMultiplier makes them) in bits 0..29 and its shift minus the layer's smallest in bits
    30..31 (params.ChannelRequant's "packed" form); where a channel does not fit that (shifts
    spanning more than 4, a zero multiplier), (multiplier, shift) pairs, step 2."""
    m, sh = np.asarray(mult, np.int64), np.asarray(shift, np.int64)
    if np.any(m < 2**30) or np.any(m >= 2**31) or int(sh.max()) - int(sh.min()) > 3:
        return np.stack([m, sh], axis=1).astype(np.int32).ravel(), 2, 0
    base = int(sh.min())
    words = ((m - 2**30) | ((sh - base) << 30)).astype(np.uint32).view(np.int32)
    if len(set(zip(m.tolist(), sh.tolist()))) == 1:
        return words[:1].copy(), 0, base
    return words, 1, base


def gemm_constants(weights: np.ndarray, bias: np.ndarray | None, input_offset: int, mult: np.ndarray,
                   shifts: np.ndarray) -> GemmConstants:
    """The kernel's constants: weight rows (K padded, padded_k), folded bias, requantization table."""
    rows = weights.reshape(weights.shape[0], -1).astype(np.int8)
    k = rows.shape[1]
    padded = np.zeros((rows.shape[0], padded_k(k)), np.int8)
    padded[:, :k] = rows
    return GemmConstants(padded, fold_bias(rows, bias, input_offset), *pack_requant(mult, shifts),
                         fast_requantize_holds(rows, bias, shifts))


# The depthwise kernel lists a window's input pointers on the stack (runtime/aotgen_depthwise_s8.h).
DEPTHWISE_MAX_TAPS = 25


def depthwise_constants(weights: np.ndarray, bias: np.ndarray | None, input_offset: int, mult: np.ndarray,
                        shifts: np.ndarray) -> GemmConstants:
    """The depthwise kernel's constants: weights as stored ([kh*kw][ch], TFLite's 1HWC), the bias
    with the input zero point folded per channel, the GEMM's requantization table."""
    taps = np.ascontiguousarray(weights.reshape(-1, weights.shape[-1]).astype(np.int8))
    rows = taps.T  # [ch][kh*kw]: each channel's weights, as fold_bias sums them
    return GemmConstants(taps, fold_bias(rows, bias, input_offset), *pack_requant(mult, shifts),
                         fast_requantize_holds(rows, bias, shifts))
