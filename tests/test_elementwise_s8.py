"""The int8 ADD / SUB / MUL kernels (aotgen/compiler/runtime/aotgen_elementwise_s8.h) on their own,
over every pair of int8 inputs, against TFLite's arithmetic (add.cc / mul.cc through
tests/tflite_arith.py) with parameters from the compiler's own Prepare models (params.py): zero
points -128 and 127, scales whose output shift is a right shift (fast form) and a left shift (the
general form), fused activations. Plain-C and DSP paths (AOTGEN_DSP_EMULATE) on the host."""

from __future__ import annotations

import numpy as np
import pytest

import tflite_arith as T
from aotgen.compiler.quantized.params import add_params, quantize_multiplier
from kernel_driver import PATHS, build_driver, run_driver

DRIVER = r"""
#include <stdio.h>
#include <stdlib.h>
#include "aotgen_elementwise_s8.h"
static int32_t next(void) { long v; if (scanf("%ld", &v) != 1) exit(3); return (int32_t)v; }
int main(void) {
  static int8_t a[65536], b[65536], y[65536];
  for (int32_t i = 0; i < 65536; ++i) { a[i] = (int8_t)(i >> 8); b[i] = (int8_t)(i & 255); }
  int32_t d[16];
  int32_t op = next();
  for (int i = 0; i < (op == 2 ? 8 : 12); ++i) d[i] = next();
  if (op == 2) aotgen_mul_s8(a, b, 65536, d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7], y);
  else aotgen_add_s8(a, b, 65536, d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7], d[8], d[9], d[10], d[11], op, y);
  for (int32_t i = 0; i < 65536; ++i) printf("%d\n", y[i]);
  return 0;
}
"""

A = np.repeat(np.arange(-128, 128)[[*range(128, 256), *range(128)]], 256)  # a[i] = (int8)(i >> 8)
B = np.tile(np.arange(-128, 128)[[*range(128, 256), *range(128)]], 256)  # b[i] = (int8)(i & 255)

# (scale 1, zero point 1, scale 2, zero point 2, output scale, output zero point, activation range)
ADDS = {
    "resnet-like, zp -128/127": (0.05, -128, 0.07, 127, 0.09, 3, (-128, 127)),
    "equal scales, relu": (0.02, 5, 0.02, -9, 0.03, -128, (-128, 127)),
    # TFLite's add.cc refuses this one (output multiplier above one); the kernel's general branch
    "output finer than inputs (left shift)": (0.5, -128, 0.25, 127, 9e-7, 0, (-100, 90)),  # saturates
}
MULS = {
    "right shift, zp -128/127": (0.05, -128, 0.04, 127, 0.2, -3, (-128, 127)),
    "left shift, clamped": (0.05, 127, 0.05, -128, 0.0015, 10, (-128, 120)),
}


@pytest.fixture(scope="module", params=PATHS)
def driver(request, tmp_path_factory):
    return build_driver(DRIVER, tmp_path_factory.mktemp(f"elementwise_{request.param}"), request.param == "dsp")


def run(exe, op: int, args) -> np.ndarray:
    return run_driver(exe, (op, *args))


@pytest.mark.parametrize("subtract", [False, True])
@pytest.mark.parametrize("name", ADDS)
def test_add_kernel_over_every_input_pair(driver, name, subtract):
    s1, z1, s2, z2, so, zo, (lo, hi) = ADDS[name]
    p = add_params(s1, z1, s2, z2, so, zo, lo, hi)
    assert p["s1"] <= 0 and p["s2"] <= 0  # add.cc's input multipliers are below one
    left = name.startswith("output finer")
    assert (p["so"] > 0) == left
    got = run(driver, int(subtract), [z1, z2, p["m1"], p["s1"], p["m2"], p["s2"], p["mo"], p["so"], p["so"] <= 0, zo,
                                      lo, hi])
    mbqm = T.multiply_by_quantized_multiplier
    want = []
    for a, b in zip(A.tolist(), B.tolist()):
        xa, xb = mbqm((a - z1) << 20, p["m1"], p["s1"]), mbqm((b - z2) << 20, p["m2"], p["s2"])
        want.append(min(max(mbqm(xa - xb if subtract else xa + xb, p["mo"], p["so"]) + zo, lo), hi))
    assert np.array_equal(got, want), np.flatnonzero(got != np.array(want))[:5]
    assert len(set(want)) >= (2 if left else 20)  # the outputs span a range: the case tests something


@pytest.mark.parametrize("name", MULS)
def test_mul_kernel_over_every_input_pair(driver, name):
    s1, z1, s2, z2, so, zo, (lo, hi) = MULS[name]
    m, s = quantize_multiplier(float(np.float32(s1) * np.float32(s2) / np.float32(so)))
    assert (s > 0) == name.startswith("left")
    got = run(driver, 2, [z1, z2, m, s, s <= 0, zo, lo, hi])
    mbqm = T.multiply_by_quantized_multiplier
    want = [min(max(mbqm((a - z1) * (b - z2), m, s) + zo, lo), hi) for a, b in zip(A.tolist(), B.tolist())]
    assert np.array_equal(got, want), np.flatnonzero(got != np.array(want))[:5]
    assert len(set(want)) > 20
