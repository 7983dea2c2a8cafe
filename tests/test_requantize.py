"""The C requantization helper against a Python model of TFLite's integer arithmetic.

TFLite (common.h, gemmlowp) computes with 64-bit products; aotgen's helper uses 32-bit pieces
only, so it must agree on every edge: INT32_MIN, products near 2^62, both rounding directions.
"""

import subprocess

import numpy as np
import pytest

from aotgen import c_helpers
from aotgen.quantized import quantize_multiplier


def srdhm(a: int, b: int) -> int:
    if a == b == -(2**31):
        return 2**31 - 1
    ab = a * b
    nudge = (1 << 30) if ab >= 0 else 1 - (1 << 30)
    v = ab + nudge
    q = abs(v) // (1 << 31)  # C division truncates toward zero
    return q if v >= 0 else -q


def rounding_divide_by_pot(x: int, exponent: int) -> int:
    mask = (1 << exponent) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (1 if x < 0 else 0)
    return (x >> exponent) + (1 if remainder > threshold else 0)


def multiply_by_quantized_multiplier(x: int, m: int, shift: int) -> int:
    left, right = max(shift, 0), max(-shift, 0)
    shifted = ((x << left) + 2**31) % 2**32 - 2**31  # int32 wrap, as in C
    return rounding_divide_by_pot(srdhm(shifted, m), right)


def single_rounding(x: int, m: int, shift: int) -> int:
    total = 31 - shift
    r = (x * m + (1 << (total - 1))) >> total
    return (r + 2**31) % 2**32 - 2**31  # the int32 cast TFLite applies


def cases():
    rng = np.random.default_rng(7)
    edge = [0, 1, -1, 2**31 - 1, -(2**31), 2**30, -(2**30), 12345, -12345]
    out = [(a, b, s) for a in edge for b in edge for s in (0, -1, -31, 1, 5)]
    for _ in range(20000):
        a = int(rng.integers(-(2**31), 2**31))
        b = int(rng.integers(0, 2**31))  # multipliers are non-negative Q31
        s = int(rng.integers(-31, 8))
        if s > 0:
            a >>= s  # keep x << shift inside int32, as TFLite's callers do
        out.append((a, b, s))
    return out


@pytest.fixture(scope="module")
def helper_exe(tmp_path_factory):
    d = tmp_path_factory.mktemp("requant")
    src = d / "main.c"
    src.write_text(
        "#include <stdint.h>\n#include <stdbool.h>\n#include <stdio.h>\n"
        + c_helpers.used_by("t_requantize( t_requantize_single(", "t") + """
int main(void) {
  long a, b, s;
  while (scanf("%ld %ld %ld", &a, &b, &s) == 3)
    printf("%ld %ld\\n", (long)t_requantize((int32_t)a, (int32_t)b, (int32_t)s),
           (long)t_requantize_single((int32_t)a, (int32_t)b, (int32_t)s));
  return 0;
}
""")
    exe = d / "requant"
    subprocess.run(["gcc", "-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", str(src), "-o", str(exe)],
                   check=True, timeout=60)
    return exe


def test_requantize_helpers_match_tflite_arithmetic(helper_exe):
    cs = cases()
    stdin = "".join(f"{a} {b} {s}\n" for a, b, s in cs)
    out = subprocess.run([str(helper_exe)], input=stdin, capture_output=True, text=True, timeout=60, check=True)
    got = [tuple(int(v) for v in line.split()) for line in out.stdout.splitlines()]
    want = [(multiply_by_quantized_multiplier(a, b, s), single_rounding(a, b, s)) for a, b, s in cs]
    mismatches = [(c, g, w) for c, g, w in zip(cs, got, want) if g != w]
    assert len(got) == len(cs)
    assert not mismatches, mismatches[:5]


@pytest.mark.parametrize("real", [0.5, 0.75, 1.0, 1e-3, 3.9e-9, 0.999999999, 2.5, 1e-12])
def test_quantize_multiplier_represents_the_scale(real):
    m, shift = quantize_multiplier(real)
    if real < 2.0**-32:
        assert (m, shift) == (0, 0)  # TFLite flushes multipliers below 2^-31 to zero
        return
    assert 2**30 <= m < 2**31
    assert abs(m * 2.0 ** (shift - 31) - real) <= real * 2.0**-30
