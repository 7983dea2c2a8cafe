"""Compile-time preparation of int8 convolutions for the GEMM and depthwise kernels
(runtime/aotgen_conv_gemm_s8.h, aotgen_depthwise_s8.h): weights in the kernels' access order, the
bias (16 bits where it fits: the GEMM subtracts the input zero point as it widens the input, the
depthwise kernel folds it into such biases in arena scratch on every call; depthwise biases that
need 32 bits anyway are folded here), the requantization table and the fast requantization's
bound. numpy only.
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
    weights: np.ndarray  # int8 [out_channels, kp]: TFLite's OHWI rows, zero columns up to kp (interleave_pairs)
    bias: np.ndarray  # [out_channels]: TFLite's bias, int16 where every value fits (compact_bias), else int32
    # (depthwise: int32 with the input zero point folded in where it would not fit 16 bits, bias_folded)
    rq: np.ndarray  # int32 (multiplier, shift) table, pack_requant's forms
    rq_step: int  # 0 one packed word for every channel, 1 one per channel, 2 multipliers then shift bytes
    shift_base: int  # packed words: the smallest shift (a word holds its shift minus this); 2: the shifts' word offset
    fast: int  # 1: the SMMULR requantization is exact for every output; 2: also every shift <= -2 (fast_form)
    bias_folded: bool = False

    @property
    def bias_is_16(self) -> bool:
        return self.bias.dtype == np.int16

    @property
    def bias_form(self) -> int:
        """The depthwise kernel's bias_form: 0 folded at compile time, 1 int16, 2 int32 (both folded
        by the kernel)."""
        return 0 if self.bias_folded else 1 if self.bias_is_16 else 2

    @property
    def k_padded(self) -> int:
        return int(self.weights.shape[1])

    def scratch_bytes(self, k: int, gathers_bytes: bool) -> int:
        """The kernel's scratch: three int16 rows of kp, and the K-byte gather row of an im2col
        whose input channels are not a multiple of 4."""
        return 6 * self.k_padded + (k if gathers_bytes else 0)


def padded_k(k: int) -> int:
    k4 = -(-k // 4) * 4
    return k4 if (k4 - k) <= k * PAD_K_MAX_FRACTION else k


def compact_bias(bias: np.ndarray) -> np.ndarray:
    """int32 biases as int16 when every value fits: the same numbers in half the flash."""
    if bias.size and np.all((bias >= -(1 << 15)) & (bias < 1 << 15)):
        return bias.astype(np.int16)
    return bias


def stored_bias(bias: np.ndarray | None, channels: int) -> np.ndarray:
    """A layer's bias as the kernels read it (zeros where the model has none), compacted."""
    return compact_bias(np.zeros(channels, np.int32) if bias is None else np.asarray(bias).astype(np.int32))


def fast_requantize_holds(weights: np.ndarray, bias: np.ndarray | None, shifts: np.ndarray) -> bool:
    """Whether every `acc + bias` of the layer stays below 2^30 in magnitude, for any input
    (|x + input_offset| <= 255), and every shift is a right shift: the fast form's conditions.
    The bound is per channel: sum_k |w[c, k]| * 255 + |bias[c]|."""
    if np.any(np.asarray(shifts) > 0):
        return False
    rows = np.abs(weights.reshape(weights.shape[0], -1).astype(np.int64))
    base = np.zeros(rows.shape[0], np.int64) if bias is None else np.abs(bias.astype(np.int64))
    return bool(np.all(rows.sum(axis=1) * 255 + base < FAST_REQUANTIZE_LIMIT))


def fast_form(weights: np.ndarray, bias: np.ndarray | None, mult: np.ndarray, shifts: np.ndarray) -> int:
    """The kernels' `fast` argument: 0 the general requantization, 1 the SMMULR form (its bound
    holds), 2 that and every shift <= -2 and every multiplier normalized (>= 2^30), so that every
    channel takes the branch-free epilogue (aotgen_out_fast_s8) without a test per channel."""
    if not fast_requantize_holds(weights, bias, shifts):
        return 0
    return 2 if np.all(np.asarray(shifts) <= -2) and np.all(np.asarray(mult, np.int64) >= 2**30) else 1


def pack_requant(mult: np.ndarray, shift: np.ndarray) -> tuple[np.ndarray, int, int]:
    """(words, step, base): each channel's multiplier (bit 30 set, bit 31 clear, as TFLite's
    QuantizeMultiplier makes them) in bits 0..29 and its shift minus the layer's smallest in bits
    30..31 (params.ChannelRequant's "packed" form); where a channel does not fit that (shifts
    spanning more than 4, a zero multiplier), step 2: the C int32 multipliers, then the C int8
    shifts in ceil(C / 4) words (little-endian, as every target is), base C, 5 bytes a channel as
    params.ChannelRequant's "arrays" form."""
    m, sh = np.asarray(mult, np.int64), np.asarray(shift, np.int64)
    if np.any(m < 2**30) or np.any(m >= 2**31) or int(sh.max()) - int(sh.min()) > 3:
        shifts = np.zeros(-(-len(sh) // 4) * 4, np.int8)
        shifts[: len(sh)] = sh
        return np.concatenate([m.astype(np.int32), shifts.view("<i4").astype(np.int32)]), 2, len(m)
    base = int(sh.min())
    words = ((m - 2**30) | ((sh - base) << 30)).astype(np.uint32).view(np.int32)
    if len(set(zip(m.tolist(), sh.tolist()))) == 1:
        return words[:1].copy(), 0, base
    return words, 1, base


def interleave_pairs(rows: np.ndarray) -> np.ndarray:
    """Weight rows [C][kp] as the GEMM's inner loop reads them, same shape and bytes: each channel
    pair's two rows interleaved per group of 4 (channel 0's 4 bytes, then channel 1's), then their
    kp % 4 tail as (channel 0, channel 1) pairs; an odd last channel's row as it is."""
    c, kp = rows.shape
    k4 = kp // 4 * 4
    pairs = rows[: c // 2 * 2].reshape(c // 2, 2, kp)
    groups = pairs[:, :, :k4].reshape(c // 2, 2, k4 // 4, 4).transpose(0, 2, 1, 3).reshape(c // 2, 2 * k4)
    tails = pairs[:, :, k4:].transpose(0, 2, 1).reshape(c // 2, 2 * (kp - k4))
    flat = np.concatenate([np.concatenate([groups, tails], axis=1).ravel(), rows[c // 2 * 2:].ravel()])
    return flat.reshape(c, kp)


def gemm_constants(weights: np.ndarray, bias: np.ndarray | None, mult: np.ndarray, shifts: np.ndarray) -> GemmConstants:
    """The kernel's constants: weight rows (K padded, padded_k; interleave_pairs), stored bias,
    requantization table."""
    rows = weights.reshape(weights.shape[0], -1).astype(np.int8)
    k = rows.shape[1]
    padded = np.zeros((rows.shape[0], padded_k(k)), np.int8)
    padded[:, :k] = rows
    return GemmConstants(interleave_pairs(padded), stored_bias(bias, rows.shape[0]), *pack_requant(mult, shifts),
                         fast_form(rows, bias, mult, shifts))


# The depthwise kernel lists a window's input pointers on the stack (runtime/aotgen_depthwise_s8.h).
DEPTHWISE_MAX_TAPS = 25


def depthwise_scratch_bytes(channels: int, folds: bool) -> int:
    """The depthwise kernel's arena scratch: the int32 biases with the input zero point folded, where
    the kernel folds them (`folds`, on every call), then a row of the zero point that outside taps
    read."""
    return 5 * channels if folds else channels


def depthwise_constants(weights: np.ndarray, bias: np.ndarray | None, input_offset: int, mult: np.ndarray,
                        shifts: np.ndarray) -> GemmConstants:
    """The depthwise kernel's constants: the weights of each group of 4 channels tap after tap
    ([ch/4][kh*kw][4], what the kernel's loop reads in order), then the last ch % 4 channels'
    ([kh*kw][ch % 4]), flat; the bias, int16 where it fits, else int32 with the input zero point
    (-input_offset) folded in where that fits; the GEMM's requantization table."""
    taps = weights.reshape(-1, weights.shape[-1]).astype(np.int8)  # [kh*kw][ch], TFLite's 1HWC
    c4 = taps.shape[1] // 4 * 4
    grouped = taps[:, :c4].reshape(taps.shape[0], c4 // 4, 4).transpose(1, 0, 2)
    flat = np.concatenate([grouped.ravel(), taps[:, c4:].ravel()])
    rows = taps.T  # [ch][kh*kw]: each channel's weights, as fast_form bounds them
    stored, folded = stored_bias(bias, rows.shape[0]), False
    if stored.dtype != np.int16:  # int32 either way: fold the zero point here, once
        with_zp = stored.astype(np.int64) + input_offset * rows.astype(np.int64).sum(axis=1)
        if np.abs(with_zp).max(initial=0) < 2**31:
            stored, folded = with_zp.astype(np.int32), True
    return GemmConstants(flat, stored, *pack_requant(mult, shifts), fast_form(rows, bias, mult, shifts), folded)
