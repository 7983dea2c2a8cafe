"""The int8 depthwise kernel of DSP cores (aotgen/compiler/runtime/aotgen_depthwise_s8.h) on its own,
against TFLite's reference DEPTHWISE_CONV_2D arithmetic (tests/tflite_arith.py), bit-exact, at
awkward shapes: channels not multiples of 4 (and below 4), borders and all-padding windows, stride
2, dilation 2, a 5x5 window, zero points -128 and 127, weights +-127, per-tensor and wide-spread
shifts. Each case runs the plain-C path and the DSP path (AOTGEN_DSP_EMULATE) on the host; QEMU
runs the real instructions (tests/test_dsp.py)."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pytest

import tflite_arith as T
from aotgen.compiler.conv_gemm import depthwise_constants
from kernel_driver import PATHS, build_driver, conv_out_hw, run_driver

DRIVER = r"""
#include <stdio.h>
#include <stdlib.h>
#include "aotgen_depthwise_s8.h"
static int32_t next(void) { long v; if (scanf("%ld", &v) != 1) exit(3); return (int32_t)v; }
int main(void) {
  int32_t d[19];
  for (int i = 0; i < 19; ++i) d[i] = next();
  int32_t h = d[0], w = d[1], ch = d[2], kh = d[3], kw = d[4], n = d[11] * d[12];
  int8_t* x = malloc((size_t)(h * w * ch)); int8_t* wt = malloc((size_t)(kh * kw * ch));
  int32_t* b32 = malloc(sizeof(int32_t) * (size_t)ch); int16_t* b16 = malloc(sizeof(int16_t) * (size_t)ch);
  int32_t* rq = malloc(sizeof(int32_t) * (size_t)(2 * ch));
  int8_t* y = malloc((size_t)(n * ch)); int8_t* scratch = malloc((size_t)(5 * ch));
  for (int32_t i = 0; i < h * w * ch; ++i) x[i] = (int8_t)next();
  for (int32_t i = 0; i < kh * kw * ch; ++i) wt[i] = (int8_t)next();
  for (int32_t i = 0; i < ch; ++i) b32[i] = next(), b16[i] = (int16_t)b32[i];
  int32_t step = next(), base = next(), n_rq = next();
  for (int32_t i = 0; i < n_rq; ++i) rq[i] = next();
  aotgen_depthwise_s8(x, h, w, ch, kh, kw, d[5], d[6], d[7], d[8], d[9], d[10], d[11], d[12], d[13], wt,
                      d[18] == 1 ? (const void*)b16 : (const void*)b32, d[18], rq, step, base, d[17], d[14], d[15], d[16],
                      y, scratch);
  for (int32_t i = 0; i < n * ch; ++i) printf("%d\n", y[i]);
  return 0;
}
"""


@dataclass(frozen=True)
class Layer:
    h: int
    w: int
    ch: int
    k: tuple[int, int] = (3, 3)
    stride: tuple[int, int] = (1, 1)
    dilation: tuple[int, int] = (1, 1)
    pad: tuple[int, int] = (1, 1)
    zp_in: int = 0
    zp_out: int = 0
    act: tuple[int, int] = (-128, 127)
    extreme: int = 0  # 1: x = 127, w = 127; -1: x = -128, w = -127
    shifts: str = "packed"  # "packed", "per_tensor", "wide" (pairs), "small" (shifts 0, -1)
    wide_bias: bool = False  # biases beyond 16 bits (stored int32; else int16)

    @property
    def out_hw(self) -> tuple[int, int]:
        return conv_out_hw((self.h, self.w), self.k, self.stride, self.dilation, self.pad)


LAYERS = {
    "13 channels, zp -128": Layer(5, 7, 13, zp_in=-128, zp_out=3, wide_bias=True),
    "3 channels, stride 2, zp 127, relu": Layer(4, 4, 3, stride=(2, 2), zp_in=127, zp_out=-128, act=(-128, 127)),
    "8 channels, dilation 2": Layer(6, 5, 8, dilation=(2, 2), pad=(2, 2), zp_in=127, zp_out=-7),
    "all-padding windows": Layer(2, 2, 6, pad=(3, 3), zp_in=-77, zp_out=9),
    "valid, stride 2, 6 channels": Layer(9, 9, 6, stride=(2, 2), pad=(0, 0), zp_in=-128, act=(-20, 60)),
    "5x5 window, 16 channels": Layer(6, 6, 16, k=(5, 5), pad=(2, 2), zp_in=5, zp_out=-1, wide_bias=True),
    "extreme +": Layer(3, 4, 8, zp_in=-128, extreme=1),
    "extreme -": Layer(3, 3, 5, zp_in=127, extreme=-1),
    "per-tensor requantization": Layer(4, 3, 12, zp_in=3, shifts="per_tensor"),
    "shifts spanning more than the packed form": Layer(3, 4, 9, zp_in=-9, shifts="wide"),
    "shifts 0 and -1 (no right shift)": Layer(4, 5, 12, zp_in=-128, zp_out=5, shifts="small"),
}


def layer_data(layer: Layer, seed: int):
    rng = np.random.default_rng(seed)
    kh, kw = layer.k
    x = rng.integers(-128, 128, (layer.h, layer.w, layer.ch)).astype(np.int8)
    w = rng.integers(-127, 128, (1, kh, kw, layer.ch)).astype(np.int8)
    w.flat[::5], w.flat[1::5] = 127, -127
    if layer.extreme:
        x[...] = 127 if layer.extreme > 0 else -128
        w[...] = 127 if layer.extreme > 0 else -127
    bias = rng.integers(-5000, 5000, layer.ch).astype(np.int32)
    if layer.wide_bias:
        bias[::2] = rng.integers(-(2**20), 2**20, bias[::2].size)
    mult = rng.integers(2**30, 2**31, layer.ch).astype(np.int32)
    base = -int(np.log2(kh * kw * 8192)) + 7
    shift = rng.integers(base - 2, base + 2, layer.ch).clip(-31, 0).astype(np.int32)
    if layer.shifts == "per_tensor":
        mult[:], shift[:] = mult[0], shift[0]
    elif layer.shifts == "wide":
        shift[0], shift[1], mult[2] = base - 3, base + 3, 0
    elif layer.shifts == "small":
        shift[1], shift[6] = 0, -1
    return x, w, bias, mult, shift


def reference(layer: Layer, x, w, bias, mult, shift) -> np.ndarray:
    """TFLite's reference per-channel DEPTHWISE_CONV_2D: sum (x + input_offset) * w over the taps inside
    the image, + bias, MultiplyByQuantizedMultiplier, + zp_out, clamp."""
    oh, ow = layer.out_hw
    kh, kw = layer.k
    xo = x.astype(np.int64) - layer.zp_in
    out = np.zeros((oh, ow, layer.ch), np.int64)
    for oy in range(oh):
        for ox in range(ow):
            acc = bias.astype(np.int64).copy()
            for i in range(kh):
                iy = oy * layer.stride[0] - layer.pad[0] + i * layer.dilation[0]
                for j in range(kw):
                    ix = ox * layer.stride[1] - layer.pad[1] + j * layer.dilation[1]
                    if 0 <= iy < layer.h and 0 <= ix < layer.w:
                        acc += xo[iy, ix] * w[0, i, j].astype(np.int64)
            for c in range(layer.ch):
                v = T.multiply_by_quantized_multiplier(int(acc[c]), int(mult[c]), int(shift[c])) + layer.zp_out
                out[oy, ox, c] = min(max(v, layer.act[0]), layer.act[1])
    return out.astype(np.int8)


@pytest.fixture(scope="module", params=PATHS)
def driver(request, tmp_path_factory):
    return build_driver(DRIVER, tmp_path_factory.mktemp(f"dw_{request.param}"), request.param == "dsp")


def run_c(exe, layer: Layer, x, c) -> np.ndarray:
    oh, ow = layer.out_hw
    head = [layer.h, layer.w, layer.ch, *layer.k, *layer.stride, *layer.dilation, *layer.pad, oh, ow, layer.zp_in,
            layer.zp_out, *layer.act, int(c.fast), c.bias_form]
    values = [*head, *x.ravel(), *c.weights.ravel(), *c.bias, c.rq_step, c.shift_base, c.rq.size, *c.rq]
    return run_driver(exe, values).astype(np.int8).reshape(oh, ow, layer.ch)


@pytest.mark.parametrize("name", LAYERS)
def test_depthwise_kernel_is_bit_exact(driver, name):
    layer = LAYERS[name]
    x, w, bias, mult, shift = layer_data(layer, len(name))
    c = depthwise_constants(w, bias, -layer.zp_in, mult, shift)
    assert c.bias_form == (0 if layer.wide_bias else 1)  # 16 bits where every bias fits, else folded here
    got = run_c(driver, layer, x, c)
    want = reference(layer, x, w, bias, mult, shift)
    assert np.array_equal(got, want), (np.argwhere(got != want)[:5], got.ravel()[:10], want.ravel()[:10])


@pytest.mark.parametrize("name", [n for n, layer in LAYERS.items() if layer.wide_bias])
def test_depthwise_kernel_folds_int32_biases_itself(driver, name):
    """bias_form 2 (int32 biases whose folded values would overflow int32, left to the kernel's
    wrapping fold): the same outputs as TFLite's."""
    layer = LAYERS[name]
    x, w, bias, mult, shift = layer_data(layer, len(name))
    c = replace(depthwise_constants(w, bias, -layer.zp_in, mult, shift), bias=bias.astype(np.int32), bias_folded=False)
    assert c.bias_form == 2
    assert np.array_equal(run_c(driver, layer, x, c), reference(layer, x, w, bias, mult, shift))
