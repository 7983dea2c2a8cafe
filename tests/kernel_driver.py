"""The host side of the C kernels' own tests (test_conv_gemm_s8, test_depthwise_s8, test_fc_s8,
test_elementwise_s8): a driver program that reads its arguments and data as integers on stdin and
prints the kernel's outputs, built with the plain-C path or the DSP path (AOTGEN_DSP_EMULATE: the
C models of the instructions, runtime/aotgen_dsp.h), and the output size of a convolution."""

from __future__ import annotations

import subprocess
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from aotgen.compiler import c_helpers

WARNINGS = ["-std=c99", "-Wall", "-Wextra", "-Werror"]
PATHS = ["plain", "dsp"]  # a driver fixture's params


def build_driver(source: str, directory: Path, dsp: bool) -> Path:
    (directory / "driver.c").write_text(source)
    exe = directory / "driver"
    flags = ["-DAOTGEN_DSP_EMULATE"] if dsp else []
    subprocess.run(["gcc", *WARNINGS, *flags, "-O2", "-I", str(c_helpers.RUNTIME_DIR), str(directory / "driver.c"),
                    "-o", str(exe)], check=True, timeout=120)
    return exe


def run_driver(exe: Path, values: Iterable) -> np.ndarray:
    out = subprocess.run([str(exe)], input="\n".join(str(int(v)) for v in values), capture_output=True, text=True,
                         timeout=60, check=True)
    return np.array([int(v) for v in out.stdout.split()])


def conv_out_hw(hw: tuple[int, int], k: tuple[int, int], stride: tuple[int, int], dilation: tuple[int, int],
                pad: tuple[int, int]) -> tuple[int, int]:
    """A convolution's output height and width (pad: top/left, the same bottom/right)."""
    return tuple((n + 2 * p - d * (kk - 1) - 1) // s + 1 for n, p, d, kk, s in zip(hw, pad, dilation, k, stride))
