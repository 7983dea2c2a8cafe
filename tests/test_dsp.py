"""int8 dot products through the Arm DSP extension (aotgen/int8_dot.py), run where it executes:
a Cortex-M4 in QEMU (mps2_an386), both backends, against LiteRT's reference kernels, bit-exact.

The models stress what the SIMD path could get wrong: lengths that leave a tail after the
four-element steps, input zero points at both ends (offsets +128 and -127 in 16-bit lanes),
weights at +-127, and convolution padding."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

import aotgen
from aotgen.firmware import boards
from aotgen.firmware import build as firmware
from aotgen.harness.runner import test_firmware
from aotgen.firmware.project import generate_project
from qemu_kernels import assert_bit_exact_in_qemu
from tflite_builder import NONE, SAME, VALID, ModelSpec, bias_int32, extreme_weights, output_scale_for, weight_scales

pytestmark = [
    pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None, reason="needs gcc-arm-none-eabi"),
    pytest.mark.skipif(shutil.which("qemu-system-arm") is None, reason="needs qemu-system-arm"),
]


def fc_model(rng, in_c: int, zp_in: int) -> tuple[ModelSpec, int]:
    out_c, s_in = 6, 0.05
    ws = weight_scales(rng, out_c, True)
    m = ModelSpec()
    x = m.input("x", [1, in_c], "int8", s_in, zp_in)
    w = m.const("w", extreme_weights(rng, [out_c, in_c]), ws, 0)
    b = m.const("b", bias_int32(rng, out_c), s_in * ws, 0)
    y = m.activation("y", [1, out_c], "int8", output_scale_for(s_in, ws, in_c), 3)
    m.op("FULLY_CONNECTED", [x, w, b], [y], "FullyConnectedOptions", version=5, FusedActivationFunction=NONE)
    return m, y


def conv_model(rng, in_c: int, zp_in: int) -> tuple[ModelSpec, int]:
    out_c, s_in = 5, 0.05
    ws = weight_scales(rng, out_c, True)
    m = ModelSpec()
    x = m.input("x", [1, 6, 5, in_c], "int8", s_in, zp_in)
    w = m.const("w", extreme_weights(rng, [out_c, 3, 3, in_c]), ws, 0)
    b = m.const("b", bias_int32(rng, out_c), s_in * ws, 0)
    y = m.activation("y", [1, 6, 5, out_c], "int8", output_scale_for(s_in, ws, 9 * in_c), -2)
    m.op("CONV_2D", [x, w, b], [y], "Conv2DOptions", version=3, Padding=SAME, StrideW=1, StrideH=1,
         DilationWFactor=1, DilationHFactor=1, FusedActivationFunction=NONE)
    return m, y


def test_dot_products_with_smlad_are_bit_exact_on_a_cortex_m4(tmp_path):
    rng = np.random.default_rng(5)
    board = boards.load_board("mps2_an386")
    specs = [fc_model(rng, 37, -128), fc_model(rng, 18, 127), conv_model(rng, 13, -128), conv_model(rng, 8, 127)]
    libs = []
    for i, (spec, y) in enumerate(specs):
        path = tmp_path / f"m{i}.tflite"
        path.write_bytes(spec.to_bytes([y]))
        for backend in ("c", "llvm"):
            lib = aotgen.compile(path, output=tmp_path / f"{backend}{i}", prefix=f"{backend}{i}", backend=backend,
                                 target=board.cpu).library
            libs.append(lib)
    for i, lib in enumerate(libs):  # the SIMD path is the one under test: C kernels, blocked SMLAD inside
        # (in the C glue for LLVM too): fully connected layers (runtime/aotgen_fc_s8.h), convolutions
        kernel = "fc_s8" if i < 4 else "conv_gemm_s8"
        assert f"{lib.prefix}_{kernel}(" in lib.sources[0].read_text()
    project = generate_project(libs, board, "cmsis", tmp_path / "fw")
    firmware.build(project)
    result = test_firmware(project, count=4, seed=9)
    assert result.passed, result.to_json()
    assert len(result.reports) == len(libs) and all(len(r.samples) == 4 for r in result.reports)
    for prefix, report in zip(result.prefixes, result.reports):
        assert report.max_abs_error() == 0, (prefix, report.to_json())


def pointwise_model(rng, in_c: int, out_c: int, hw: tuple[int, int], zp_in: int) -> tuple[ModelSpec, int]:
    s_in = 0.05
    ws = weight_scales(rng, out_c, True)
    m = ModelSpec()
    x = m.input("x", [1, *hw, in_c], "int8", s_in, zp_in)
    w = m.const("w", extreme_weights(rng, [out_c, 1, 1, in_c]), ws, 0)
    b = m.const("b", bias_int32(rng, out_c), s_in * ws, 0)
    y = m.activation("y", [1, *hw, out_c], "int8", output_scale_for(s_in, ws, in_c), 5)
    m.op("CONV_2D", [x, w, b], [y], "Conv2DOptions", version=3, Padding=SAME, StrideW=1, StrideH=1,
         DilationWFactor=1, DilationHFactor=1, FusedActivationFunction=NONE)
    return m, y


@pytest.mark.parametrize("board_name", ["mps2_an386", "mps2_an505"])
def test_pointwise_gemm_micro_kernel_is_bit_exact(board_name, tmp_path):
    """1x1 convolutions through the 2x2-blocked SMLAD GEMM (runtime/aotgen_conv_gemm_s8.h, its
    hand-scheduled inner loop and the pointwise widening) at awkward shapes: an odd pixel count,
    input channels not a multiple of 4 (and fewer than 4), an odd channel count, zero points -128
    and 127, weights at +-127; C and LLVM backends, on a Cortex-M4 and M33."""
    rng = np.random.default_rng(11)
    specs = [pointwise_model(rng, 13, 7, (3, 5), -128), pointwise_model(rng, 3, 2, (1, 1), 127),
             pointwise_model(rng, 64, 9, (5, 5), 127), pointwise_model(rng, 8, 16, (2, 3), -128)]
    assert_bit_exact_in_qemu(board_name, [(*s, "conv_gemm_1x1_s8") for s in specs], tmp_path)


def depthwise_model(rng, ch: int, hw: tuple[int, int], stride: int, dilation: int, zp_in: int, padding=SAME,
                    k: int = 3):
    s_in = 0.05
    ws = weight_scales(rng, ch, True)
    m = ModelSpec()
    x = m.input("x", [1, *hw, ch], "int8", s_in, zp_in)
    w = m.const("w", extreme_weights(rng, [1, k, k, ch]), ws, 0, quantized_dimension=3)
    b = m.const("b", bias_int32(rng, ch), s_in * ws, 0)
    out_hw = [(d + stride - 1) // stride for d in hw] if padding == SAME else \
        [(d - dilation * (k - 1) - 1) // stride + 1 for d in hw]
    y = m.activation("y", [1, *out_hw, ch], "int8", output_scale_for(s_in, ws, k * k), -7)
    m.op("DEPTHWISE_CONV_2D", [x, w, b], [y], "DepthwiseConv2DOptions", version=2, Padding=padding, StrideW=stride,
         StrideH=stride, DepthMultiplier=1, DilationWFactor=dilation, DilationHFactor=dilation,
         FusedActivationFunction=NONE)
    return m, y


@pytest.mark.parametrize("board_name", ["mps2_an386", "mps2_an505"])
def test_depthwise_simd_micro_kernel_is_bit_exact(board_name, tmp_path):
    """The depthwise kernel's 4-channel SMLABB/SMLATT path at awkward shapes: channel counts that are
    not multiples of 4 (and below 4), borders, stride 2, dilation 2 (windows mostly in the padding),
    a 5x5 window (the tap loop's one-tap form), zero points -128 and 127, weights at +-127; C and
    LLVM backends, on a Cortex-M4 and M33."""
    rng = np.random.default_rng(12)
    specs = [depthwise_model(rng, 13, (5, 7), 1, 1, -128), depthwise_model(rng, 3, (4, 4), 2, 1, 127),
             depthwise_model(rng, 8, (6, 5), 1, 2, 127), depthwise_model(rng, 6, (9, 9), 2, 1, -128, VALID),
             depthwise_model(rng, 10, (7, 6), 1, 1, 127, k=5)]
    assert_bit_exact_in_qemu(board_name, [(*s, "depthwise_s8") for s in specs], tmp_path, seed=6)


def test_depthwise_windows_beyond_5x5_take_the_general_simd_kernel(tmp_path):
    """A 7x7 depthwise window is too wide for aotgen_depthwise_s8.h's tap list: it runs
    aotgen_conv_s8.h's 4-channel SIMD kernel (dwconv_s8), whose DSP path only a DSP core runs;
    bit-exact on a Cortex-M4, C and LLVM backends."""
    rng = np.random.default_rng(13)
    specs = [depthwise_model(rng, 8, (9, 10), 1, 1, -128, k=7), depthwise_model(rng, 6, (8, 7), 2, 1, 127, k=7)]
    assert_bit_exact_in_qemu("mps2_an386", [(*s, "dwconv_s8") for s in specs], tmp_path, seed=7)
