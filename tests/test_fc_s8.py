"""The int8 FULLY_CONNECTED kernel (aotgen/compiler/runtime/aotgen_fc_s8.h) on its own, against
TFLite's reference arithmetic with single rounding (tests/tflite_arith.py, as LiteRT computes it),
bit-exact, at awkward shapes: row counts that are not multiples of 4 (and below 4), odd K and K
below 4, several batches, zero points -128 and 127, weights +-127, every stored form of the bias
(int16/int32) and of the requantization (one pair, packed words, arrays), left shifts, and K large
enough that the fast requantization's bound fails. Each case runs the plain-C path and the DSP
path (AOTGEN_DSP_EMULATE: C models of SXTB16/SADD16/SMLAD/SMMUL) on the host."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

import tflite_arith as T
from aotgen.compiler.conv_gemm import compact_bias, fast_requantize_holds
from aotgen.compiler.quantized.fc_call import interleave_rows
from aotgen.compiler.quantized.params import ChannelRequant
from kernel_driver import PATHS, build_driver, run_driver

DRIVER = r"""
#include <stdio.h>
#include <stdlib.h>
#include "aotgen_fc_s8.h"
static int32_t next(void) { long v; if (scanf("%ld", &v) != 1) exit(3); return (int32_t)v; }
int main(void) {
  int32_t d[13];
  for (int i = 0; i < 13; ++i) d[i] = next();
  int32_t batches = d[0], k = d[1], n = d[2], b16 = d[3], mode = d[4];
  int8_t* x = malloc((size_t)(batches * k)); int8_t* w = malloc((size_t)(n * k));
  int32_t* b32 = malloc(sizeof(int32_t) * (size_t)n); int16_t* b16s = malloc(sizeof(int16_t) * (size_t)n);
  int32_t* words = malloc(sizeof(int32_t) * (size_t)n); int8_t* shifts = malloc((size_t)n);
  int8_t* y = malloc((size_t)(batches * n)); uint32_t* scratch = malloc(sizeof(uint32_t) * (size_t)(k / 2 + 1));
  for (int32_t i = 0; i < batches * k; ++i) x[i] = (int8_t)next();
  for (int32_t i = 0; i < n * k; ++i) w[i] = (int8_t)next();
  for (int32_t i = 0; i < n; ++i) { b32[i] = next(); b16s[i] = (int16_t)b32[i]; }
  for (int32_t i = 0; i < (mode ? n : 0); ++i) words[i] = next();
  for (int32_t i = 0; i < (mode == 2 ? n : 0); ++i) shifts[i] = (int8_t)next();
  aotgen_fc_s8(x, batches, k, w, n, b16 ? (const void*)b16s : (const void*)b32, b16, mode, words, shifts, d[5], d[6],
               d[7], d[8], d[9], d[10], d[11], y, scratch, d[12]);
  for (int32_t i = 0; i < batches * n; ++i) printf("%d\n", y[i]);
  return 0;
}
"""


@dataclass(frozen=True)
class Layer:
    k: int
    n_out: int
    batches: int = 1
    zp_in: int = 0
    zp_out: int = 0
    act: tuple[int, int] = (-128, 127)
    extreme: int = 0  # 1: x = 127, w = 127 (largest sums); -1: x = -128, w = -127
    requant: str = "packed"  # ChannelRequant's kind: scalar, packed, arrays
    wide_bias: bool = False  # int32 biases (else small enough to be stored as int16)
    left_shift: bool = False


LAYERS = {
    "640->128 ad01-like, zp -128": Layer(640, 128, zp_in=-128, zp_out=3, requant="scalar"),
    "odd K 37, 7 rows, zp 127": Layer(37, 7, zp_in=127, zp_out=-128),
    "K 3 (no group), 5 rows": Layer(3, 5, zp_in=-128, zp_out=127, requant="arrays"),
    "2 rows, K 18, relu6": Layer(18, 2, zp_in=127, act=(-128, 0), wide_bias=True),
    "3 batches, 9 rows, K 13": Layer(13, 9, batches=3, zp_in=5, zp_out=-7, requant="arrays", wide_bias=True),
    "extreme +, 6 rows": Layer(64, 6, zp_in=-128, extreme=1),
    "extreme -, 4 rows, K 15": Layer(15, 4, zp_in=127, extreme=-1, requant="scalar"),
    "left shift": Layer(20, 5, zp_in=-128, left_shift=True, requant="arrays"),
    "K beyond the fast bound": Layer(34001, 5, zp_in=-128, extreme=1, requant="scalar", wide_bias=True),
}


def layer_data(layer: Layer, seed: int):
    rng = np.random.default_rng(seed)
    x = rng.integers(-128, 128, (layer.batches, layer.k)).astype(np.int8)
    w = rng.integers(-127, 128, (layer.n_out, layer.k)).astype(np.int8)
    w.flat[::5], w.flat[1::5] = 127, -127
    if layer.extreme:
        x[...] = 127 if layer.extreme > 0 else -128
        w[...] = 127 if layer.extreme > 0 else -127
    span = 2**20 if layer.wide_bias else 2**14
    bias = rng.integers(-span, span, layer.n_out).astype(np.int32)
    mult = rng.integers(2**30, 2**31, layer.n_out).astype(np.int32)
    base = -int(np.log2(layer.k * 8192)) + 7  # shifts that keep most outputs inside int8
    shift = rng.integers(base - 2, base + 2, layer.n_out).clip(-31, 0).astype(np.int32)
    if layer.left_shift:
        shift[:] = np.resize([1, 0, -2], layer.n_out)
    if layer.requant == "scalar":
        mult[:], shift[:] = mult[0], shift[0]
    elif layer.requant == "arrays":
        mult[0] = 2**29 + 7  # not normalized: does not pack
    return x, w, bias, mult, shift


def reference(layer: Layer, x, w, bias, mult, shift) -> np.ndarray:
    acc = (x.astype(np.int64) - layer.zp_in) @ w.astype(np.int64).T + bias
    out = np.array([[T.single_rounding(int(a), int(mult[c]), int(shift[c])) for c, a in enumerate(row)]
                    for row in acc]) + layer.zp_out
    return out.clip(*layer.act).astype(np.int8)


@pytest.fixture(scope="module", params=PATHS)
def driver(request, tmp_path_factory):
    dsp = request.param == "dsp"
    return build_driver(DRIVER, tmp_path_factory.mktemp(f"fc_{request.param}"), dsp), dsp


def run_c(exe, layer: Layer, x, w, bias, rq: ChannelRequant, fast: bool, widen: bool) -> np.ndarray:
    stored = compact_bias(bias)
    mode, m0, s0 = rq.c_args()
    head = [layer.batches, layer.k, layer.n_out, int(stored.dtype == np.int16), mode, m0, s0, int(fast), layer.zp_in,
            layer.zp_out, *layer.act, int(widen)]
    values = [*head, *x.ravel(), *interleave_rows(w), *stored, *(t for table in rq.tensors for t in table)]
    return run_driver(exe, values).astype(np.int8).reshape(layer.batches, layer.n_out)


@pytest.mark.parametrize("name", LAYERS)
def test_fc_kernel_is_bit_exact(driver, name):
    exe, dsp = driver
    layer = LAYERS[name]
    x, w, bias, mult, shift = layer_data(layer, len(name))
    rq = ChannelRequant(mult, shift)
    assert rq.kind == layer.requant
    assert (compact_bias(bias).dtype == np.int32) == layer.wide_bias
    fast = fast_requantize_holds(w, bias, shift)
    assert fast == (not layer.left_shift and name != "K beyond the fast bound")
    got = run_c(exe, layer, x, w, bias, rq, fast, widen=dsp)
    want = reference(layer, x, w, bias, mult, shift)
    assert np.array_equal(got, want), (np.argwhere(got != want)[:5], got.ravel()[:10], want.ravel()[:10])


def test_fast_form_is_wrong_beyond_its_bound(tmp_path):
    """The bound is needed: forced on a layer whose sums pass 2^30, the fast form differs."""
    exe = build_driver(DRIVER, tmp_path, dsp=True)
    layer = LAYERS["K beyond the fast bound"]
    x, w, bias, mult, shift = layer_data(layer, 3)
    shift[:] = -24  # outputs inside int8; 2 acc wraps in 32 bits
    rq = ChannelRequant(mult, shift)
    want = reference(layer, x, w, bias, mult, shift)
    assert np.array_equal(run_c(exe, layer, x, w, bias, rq, False, True), want)
    assert not np.array_equal(run_c(exe, layer, x, w, bias, rq, True, True), want)


def test_rows_are_interleaved_in_blocks_of_four():
    w = np.arange(6 * 5, dtype=np.int8).reshape(6, 5)
    got = interleave_rows(w)
    assert got.size == w.size
    assert list(got[:16]) == [*w[0, :4], *w[1, :4], *w[2, :4], *w[3, :4]]
    assert list(got[16:20]) == [w[0, 4], w[1, 4], w[2, 4], w[3, 4]]
    assert list(got[20:]) == [*w[4], *w[5]]
