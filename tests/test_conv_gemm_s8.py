"""The int8 GEMM convolution kernel (aotgen/compiler/runtime/aotgen_conv_gemm_s8.h) on its own, against
TFLite's reference CONV_2D arithmetic (tests/tflite_arith.py), bit-exact, at awkward shapes: odd
pixel and channel counts, channels not multiples of 4, borders and all-padding windows, stride 2,
dilation 2, input layers with 1 and 3 channels, zero points -128 and 127, weights +-127, and K
large enough that the fast requantization's bound fails. Each case runs the plain-C path and the
DSP path (AOTGEN_DSP_EMULATE: C models of SXTB16/SMLAD/SMMULR) on the host."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

import tflite_arith as T
from aotgen.compiler.conv_gemm import fast_requantize_holds, gemm_constants, interleave_pairs, pack_requant
from kernel_driver import PATHS, build_driver, conv_out_hw, run_driver

DRIVER = r"""
#include <stdio.h>
#include <stdlib.h>
#include "aotgen_conv_gemm_s8.h"
static int32_t next(void) { long v; if (scanf("%ld", &v) != 1) exit(3); return (int32_t)v; }
int main(void) {
  int32_t d[23];
  for (int i = 0; i < 23; ++i) d[i] = next();
  int32_t h = d[0], w = d[1], ci = d[2], kh = d[3], kw = d[4], co = d[14], kp = d[19];
  int32_t n = d[12] * d[13];
  int8_t* x = malloc((size_t)(h * w * ci)); int8_t* wt = malloc((size_t)(co * kp));
  int32_t* b32 = malloc(sizeof(int32_t) * (size_t)co); int16_t* b16 = malloc(sizeof(int16_t) * (size_t)co);
  int32_t* rq = malloc(sizeof(int32_t) * (size_t)(2 * co));
  int8_t* y = malloc((size_t)(n * co));
  int8_t* scratch = malloc((size_t)d[20]);
  for (int32_t i = 0; i < h * w * ci; ++i) x[i] = (int8_t)next();
  for (int32_t i = 0; i < co * kp; ++i) wt[i] = (int8_t)next();
  for (int32_t i = 0; i < co; ++i) b32[i] = next(), b16[i] = (int16_t)b32[i];
  int32_t step = next(), base = next(), n_rq = next();
  for (int32_t i = 0; i < n_rq; ++i) rq[i] = next();
  const void* b = d[21] ? (const void*)b16 : (const void*)b32;
  if (d[22]) /* the 1x1 kernel */
    aotgen_conv_gemm_1x1_s8(x, h * w, ci, d[11], wt, co, kp, b, d[21], rq, step, base, d[18], d[15], d[16], d[17], y,
                            scratch);
  else
    aotgen_conv_gemm_s8(x, h, w, ci, kh, kw, d[5], d[6], d[7], d[8], d[9], d[10], d[12], d[13], d[11], wt, co, kp, b,
                        d[21], rq, step, base, d[18], d[15], d[16], d[17], y, scratch);
  for (int32_t i = 0; i < n * co; ++i) printf("%d\n", y[i]);
  return 0;
}
"""


@dataclass(frozen=True)
class Layer:
    h: int
    w: int
    c_in: int
    c_out: int
    k: tuple[int, int] = (1, 1)
    stride: tuple[int, int] = (1, 1)
    dilation: tuple[int, int] = (1, 1)
    pad: tuple[int, int] = (0, 0)
    zp_in: int = 0
    zp_out: int = 0
    act: tuple[int, int] = (-128, 127)
    extreme: int = 0  # 1: x = 127, w = 127 (largest sums); -1: x = -128, w = -127
    positive_shift: bool = False
    per_tensor: bool = False  # one (multiplier, shift) for every channel
    wide_shifts: bool = False  # shifts 6 apart and a zero multiplier: (multiplier, shift) pairs
    small_shifts: bool = False  # shifts -1 and 0 beside -2, -5: the fast form, not its branch-free part
    wide_bias: bool = False  # biases beyond 16 bits (stored int32; else int16)

    @property
    def out_hw(self) -> tuple[int, int]:
        return conv_out_hw((self.h, self.w), self.k, self.stride, self.dilation, self.pad)


LAYERS = {
    "1x1 odd pixels, 7->5, zp -128": Layer(3, 5, 7, 5, zp_in=-128, zp_out=3, wide_bias=True),
    "1x1 64->6 zp 127, relu6": Layer(2, 3, 64, 6, zp_in=127, zp_out=-128, act=(-128, 0)),
    "3x3 same, stride 2, 3->6 zp 127": Layer(7, 6, 3, 6, (3, 3), (2, 2), pad=(1, 1), zp_in=127, zp_out=-5),
    "3x3 dilation 2, 5->3": Layer(6, 7, 5, 3, (3, 3), dilation=(2, 2), pad=(2, 2), zp_in=-128, zp_out=127,
                                  wide_bias=True),
    "all-padding windows": Layer(2, 2, 4, 3, (3, 3), pad=(3, 3), zp_in=-77, zp_out=9),
    "input layer 1 channel, stride 2": Layer(9, 7, 1, 4, (3, 3), (2, 2), pad=(1, 1), zp_in=-128),
    "1x1 strided 9->7": Layer(5, 5, 9, 7, stride=(2, 2), zp_in=11),
    "extreme +, 3x3 16->5": Layer(4, 3, 16, 5, (3, 3), pad=(1, 1), zp_in=-128, extreme=1),
    "extreme -, 1x1 13->3": Layer(3, 3, 13, 3, zp_in=127, extreme=-1),
    "positive shift": Layer(3, 3, 4, 3, zp_in=-128, positive_shift=True),
    "shifts 0 and -1": Layer(3, 5, 8, 7, zp_in=-128, zp_out=-3, small_shifts=True),
    "per-tensor requantization, 3x3 stride 2": Layer(5, 6, 6, 5, (3, 3), (2, 2), pad=(1, 1), zp_in=3, per_tensor=True),
    "K beyond the fast bound": Layer(1, 3, 34000, 3, zp_in=-128, extreme=1),
    "RGB input layer, K 27 padded to 28": Layer(6, 5, 3, 5, (3, 3), (2, 2), pad=(1, 1), zp_in=-128, zp_out=-128,
                                                wide_bias=True),
    "shifts spanning more than the packed form": Layer(3, 4, 8, 5, (3, 3), pad=(1, 1), zp_in=5, wide_shifts=True),
    "1x1 2 channels": Layer(3, 3, 2, 3, zp_in=127),
    "1x1 35->5, K padded to 36": Layer(3, 1, 35, 5, zp_in=-128, zp_out=7),
}


def layer_data(layer: Layer, seed: int):
    rng = np.random.default_rng(seed)
    kh, kw = layer.k
    x = rng.integers(-128, 128, (layer.h, layer.w, layer.c_in)).astype(np.int8)
    w = rng.integers(-127, 128, (layer.c_out, kh, kw, layer.c_in)).astype(np.int8)
    w.flat[::5], w.flat[1::5] = 127, -127
    if layer.extreme:
        x[...] = 127 if layer.extreme > 0 else -128
        w[...] = 127 if layer.extreme > 0 else -127
    bias = rng.integers(-5000, 5000, layer.c_out).astype(np.int32)
    if layer.wide_bias:
        bias[::2] = rng.integers(-(2**20), 2**20, bias[::2].size)
    mult = rng.integers(2**30, 2**31, layer.c_out).astype(np.int32)
    k = kh * kw * layer.c_in
    # Shifts that put outputs in range: roughly 2^-log2(K * 2^13).
    base = -int(np.log2(k * 8192)) + 7
    shift = (rng.integers(base - 2, base + 2, layer.c_out)).clip(-31, 0).astype(np.int32)
    if layer.positive_shift:  # a left shift (and shifts within the packed form's span of 4)
        shift[:] = np.resize([1, 0, -2], layer.c_out)
    if layer.per_tensor:
        mult[:], shift[:] = mult[0], shift[0]
    if layer.wide_shifts:
        shift[0], shift[1], mult[2] = base - 3, base + 3, 0
    if layer.small_shifts:
        shift[:] = np.resize([-1, 0, -2, -5, -2, -2], layer.c_out)
    return x, w, bias, mult, shift


def reference(layer: Layer, x, w, bias, mult, shift) -> np.ndarray:
    """TFLite's reference per-channel CONV_2D: sum (x + input_offset) * w over the taps inside the
    image (outside taps skipped), + bias, MultiplyByQuantizedMultiplier, + zp_out, clamp."""
    oh, ow = layer.out_hw
    kh, kw = layer.k
    xo = x.astype(np.int64) - layer.zp_in
    out = np.zeros((oh, ow, layer.c_out), np.int64)
    for oy in range(oh):
        for ox in range(ow):
            acc = bias.astype(np.int64).copy()
            for i in range(kh):
                iy = oy * layer.stride[0] - layer.pad[0] + i * layer.dilation[0]
                for j in range(kw):
                    ix = ox * layer.stride[1] - layer.pad[1] + j * layer.dilation[1]
                    if 0 <= iy < layer.h and 0 <= ix < layer.w:
                        acc += w[:, i, j, :].astype(np.int64) @ xo[iy, ix]
            for c in range(layer.c_out):
                v = T.multiply_by_quantized_multiplier(int(acc[c]), int(mult[c]), int(shift[c])) + layer.zp_out
                out[oy, ox, c] = min(max(v, layer.act[0]), layer.act[1])
    return out.astype(np.int8)


@pytest.fixture(scope="module", params=PATHS)
def driver(request, tmp_path_factory):
    return build_driver(DRIVER, tmp_path_factory.mktemp(f"conv_{request.param}"), request.param == "dsp")


def pointwise(layer: Layer) -> bool:
    return layer.k == (1, 1) and layer.stride == (1, 1) and layer.pad == (0, 0)


def run_c(exe, layer: Layer, x, consts, fast: bool, kernel_1x1: bool = False) -> np.ndarray:
    """The layer through aotgen_conv_gemm_s8 (im2col), or aotgen_conv_gemm_1x1_s8."""
    oh, ow = layer.out_hw
    k = layer.k[0] * layer.k[1] * layer.c_in
    scratch = consts.scratch_bytes(k, gathers_bytes=layer.c_in % 4 != 0)
    head = [layer.h, layer.w, layer.c_in, *layer.k, *layer.stride, *layer.dilation, *layer.pad, layer.zp_in, oh, ow,
            layer.c_out, layer.zp_out, *layer.act, int(fast), consts.k_padded, scratch, int(consts.bias_is_16),
            int(kernel_1x1)]
    values = [*head, *x.ravel(), *consts.weights.ravel(), *consts.bias, consts.rq_step, consts.shift_base, consts.rq.size, *consts.rq]
    return run_driver(exe, values).astype(np.int8).reshape(oh, ow, layer.c_out)


@pytest.mark.parametrize("name", LAYERS)
def test_conv_kernel_is_bit_exact(driver, name):
    layer = LAYERS[name]
    x, w, bias, mult, shift = layer_data(layer, len(name))
    consts = gemm_constants(w, bias, mult, shift)
    assert consts.bias_is_16 != layer.wide_bias  # 16 bits where every bias fits
    want = reference(layer, x, w, bias, mult, shift)
    for kernel_1x1 in (False, True) if pointwise(layer) else (False,):  # 1x1 layers: either kernel
        got = run_c(driver, layer, x, consts, consts.fast, kernel_1x1)
        assert np.array_equal(got, want), (kernel_1x1, np.argwhere(got != want)[:5], got.ravel()[:10], want.ravel()[:10])


def test_fast_bound_is_decided_per_layer():
    _, w, bias, mult, _ = layer_data(LAYERS["1x1 64->6 zp 127, relu6"], 1)
    assert gemm_constants(w, bias, mult, np.zeros(6)).fast == 1  # SMMULR, not every shift <= -2
    assert gemm_constants(w, bias, mult, np.full(6, -2)).fast == 2  # no test per channel
    assert gemm_constants(w, bias, mult, np.array([-2, -9, -1, -3, -2, -2])).fast == 1
    big = LAYERS["K beyond the fast bound"]
    _, w, bias, _, shift = layer_data(big, 2)
    assert not fast_requantize_holds(w, bias, shift)
    assert not fast_requantize_holds(w[:, :, :, :4], bias, np.array([1, 0, 0]))  # a left shift


def test_fast_form_is_wrong_beyond_its_bound(tmp_path):
    """The bound is needed: forced on a layer whose sums pass 2^30, the fast form differs. (Its
    SMMULR(2 acc, m) doubles the sum in 32 bits; the branch-free form's SMMLAR(acc, 2m, acc) does
    not, and takes shifts <= -2 and multipliers >= 2^30 only: a small multiplier and shift -1
    keep the kernel off it and the outputs inside int8.)"""
    exe = build_driver(DRIVER, tmp_path, dsp=True)
    layer = LAYERS["K beyond the fast bound"]
    x, w, bias, mult, shift = layer_data(layer, 3)
    mult[:], shift[:] = 300, -1
    consts = gemm_constants(w, bias, mult, shift)
    want = reference(layer, x, w, bias, mult, shift)
    assert np.array_equal(run_c(exe, layer, x, consts, False), want)
    assert not np.array_equal(run_c(exe, layer, x, consts, True), want)



def test_requantization_packs_or_keeps_five_bytes_a_channel():
    assert pack_requant(np.array([2**30, 2**31 - 1]), np.array([-3, -6]))[1:] == (1, -6)
    assert pack_requant(np.array([2**30 + 5] * 3), np.array([-4] * 3))[1] == 0  # one word for the layer
    words, step, base = pack_requant(np.array([2**30, 2**30 + 1, 2**31 - 1]), np.array([-1, -6, 2]))  # span > 3
    # the multipliers, then the shifts as bytes (5 bytes a channel)
    assert (step, base) == (2, 3) and words[:3].tolist() == [2**30, 2**30 + 1, 2**31 - 1]
    assert words[3:].view(np.int8).tolist() == [-1, -6, 2, 0]
    assert pack_requant(np.array([0, 2**30]), np.array([0, 0]))[1] == 2  # a zero multiplier


def test_k_is_padded_only_where_it_costs_little():
    rng = np.random.default_rng(0)
    rgb = gemm_constants(rng.integers(-127, 128, (4, 3, 3, 3)), None, np.full(4, 2**30), np.zeros(4))
    # (channel pairs interleaved per group of 4: column 27 is byte 3 of each pair's last group)
    assert rgb.k_padded == 28 and not rgb.weights.reshape(2, 7, 2, 4)[:, -1, :, 3].any()
    assert gemm_constants(rng.integers(-127, 128, (4, 3, 3, 1)), None, np.full(4, 2**30), np.zeros(4)).k_padded == 9


@pytest.mark.parametrize("shape", [(4, 8), (5, 9), (3, 2), (1, 6), (6, 27)])
def test_weight_rows_interleave_per_channel_pair(shape):
    """interleave_pairs: each pair's groups of 4 alternate, then its tail as pairs, an odd last row as it is."""
    rows = np.arange(np.prod(shape)).reshape(shape).astype(np.int64)
    c, kp = shape
    k4 = kp // 4 * 4
    want = []
    for p in range(0, c - 1, 2):
        for g in range(0, k4, 4):
            want += [*rows[p, g:g + 4], *rows[p + 1, g:g + 4]]
        for i in range(k4, kp):
            want += [rows[p, i], rows[p + 1, i]]
    if c % 2:
        want += list(rows[-1])
    got = interleave_pairs(rows)
    assert got.shape == rows.shape and got.ravel().tolist() == want
