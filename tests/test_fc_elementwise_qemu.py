"""The FULLY_CONNECTED kernel (runtime/aotgen_fc_s8.h) and the ADD/SUB/MUL kernels
(runtime/aotgen_elementwise_s8.h) where they execute: one firmware per
board holding every model below compiled with both backends, run in QEMU on a Cortex-M4
(mps2_an386), M7 (mps2_an500) and M33 (mps2_an505), against LiteRT, bit-exact.

The models stress what the blocked SIMD path could get wrong: row counts that are not multiples
of 4 (and below 4), odd K and K below 4, several batches, zero points -128 and 127, weights at
+-127, per-tensor and per-channel requantization, a left shift (the 64-bit requantization), and a
K whose worst case crosses the fast requantization's bound (chosen off at compile time); ADD, SUB
and MUL with zero points -128 and 127, MUL's output shift both ways (TFLite refuses an ADD whose
output multiplier is not below one)."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from qemu_kernels import assert_bit_exact_in_qemu
from tflite_builder import NONE, RELU, ModelSpec, bias_int32, extreme_weights, output_scale_for, weight_scales

pytestmark = [
    pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None, reason="needs gcc-arm-none-eabi"),
    pytest.mark.skipif(shutil.which("qemu-system-arm") is None, reason="needs qemu-system-arm"),
]


def fc_model(rng, batches: int, k: int, n_out: int, zp_in: int, per_channel: bool = True, act: int = NONE,
             out_scale: float | None = None) -> tuple[ModelSpec, int]:
    s_in = 0.05
    ws = weight_scales(rng, n_out, per_channel)
    m = ModelSpec()
    x = m.input("x", [batches, k], "int8", s_in, zp_in)
    w = m.const("w", extreme_weights(rng, [n_out, k]), ws, 0)
    b = m.const("b", bias_int32(rng, n_out), s_in * ws, 0)
    y = m.activation("y", [batches, n_out], "int8", out_scale or output_scale_for(s_in, ws, k), 3)
    m.op("FULLY_CONNECTED", [x, w, b], [y], "FullyConnectedOptions", version=5, FusedActivationFunction=act)
    return m, y


def fc_models(rng) -> list[tuple[ModelSpec, int, str]]:
    return [(*fc_model(rng, *shape, **opts), "fc_s8") for shape, opts in [
        ((1, 37, 7, -128), {}),
        ((1, 640, 13, 127), {"per_channel": False}),  # ad01's K
        ((2, 3, 5, -128), {"act": RELU}),  # K below 4, two batches
        ((3, 18, 2, 127), {}),
        ((1, 20, 6, -128), {"out_scale": 1e-5}),  # multipliers above 1: a left shift
        ((1, 48000, 3, -128), {"per_channel": False}),  # sum |w| * 255 > 2^30: the 64-bit form
    ]]


def binary_model(rng, op: str, shape, zps, scales, act: int = NONE) -> tuple[ModelSpec, int]:
    m = ModelSpec()
    a = m.input("a", shape, "int8", scales[0], zps[0])
    b = m.input("b", shape, "int8", scales[1], zps[1])
    y = m.activation("y", shape, "int8", scales[2], zps[2])
    options = {"ADD": "AddOptions", "SUB": "SubOptions", "MUL": "MulOptions"}[op]
    m.op(op, [a, b], [y], options, version=2, FusedActivationFunction=act)
    return m, y


def elementwise_models(rng) -> list[tuple[ModelSpec, int, str]]:
    kernel = {"ADD": "add_s8", "SUB": "add_s8", "MUL": "mul_s8"}
    return [(*binary_model(rng, op, shape, zps, scales, *act), kernel[op]) for op, shape, zps, scales, act in [
        ("ADD", [1, 5, 3, 7], (-128, 127, 3), (0.05, 0.07, 0.09), ()),  # resnet's residual sums
        ("ADD", [2, 9], (127, -128, -128), (0.02, 0.02, 0.03), (RELU,)),
        ("SUB", [3, 5], (5, -9, 2), (0.03, 0.05, 0.06), ()),
        ("MUL", [1, 4, 4, 3], (-128, 127, -3), (0.05, 0.04, 0.2), ()),
        ("MUL", [7], (127, -128, 10), (0.05, 0.05, 0.0015), ()),  # left shift
    ]]


@pytest.mark.parametrize("board_name", ["mps2_an386", "mps2_an500", "mps2_an505"])
def test_fc_and_elementwise_kernels_are_bit_exact(board_name, tmp_path):
    rng = np.random.default_rng(13)
    assert_bit_exact_in_qemu(board_name, fc_models(rng) + elementwise_models(rng), tmp_path, seed=7)
