"""The C requantization helper against a Python model of TFLite's integer arithmetic.

TFLite (common.h, gemmlowp) computes with 64-bit products; aotgen's helper uses 32-bit pieces
only, so it must agree on every edge: INT32_MIN, products near 2^62, both rounding directions.
"""

import subprocess

import numpy as np
import pytest

from aotgen.compiler import c_helpers
from aotgen.compiler.quantized import quantize_multiplier
from tflite_arith import multiply_by_quantized_multiplier, single_rounding


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


def test_llvm_ir_helpers_match_tflite_arithmetic(tmp_path):
    """The same cases through llvm_helpers' IR: a kernel calling both helpers, built by TVM's LLVM for
    the host, must inline them (no call left) and agree with TFLite's arithmetic everywhere."""
    import tvm
    from tvm import te, tirx

    from aotgen.compiler.kernels import lower_kernel
    from aotgen.compiler.llvm_build import build_llvm_object

    cs = cases()
    n = len(cs)
    a, b, s = (te.placeholder((n,), "int32", name) for name in "abs")
    def calls(helper):
        return te.compute((n,), lambda i: tirx.call_pure_extern("int32", f"t_{helper}", a[i], b[i], s[i]), name=helper)

    outs = [calls("requantize"), calls("requantize_single")]
    target = tvm.target.Target({"kind": "llvm"})
    kernel = lower_kernel(te.create_prim_func([a, b, s, *outs]), "t_requant", target)
    obj = tmp_path / "k.o"
    build_llvm_object([kernel], target, obj, "t")
    undefined = subprocess.run(["nm", "-u", str(obj)], capture_output=True, text=True, timeout=60, check=True).stdout
    assert "t_requantize" not in undefined, undefined

    main = tmp_path / "main.c"
    main.write_text(f"""#include <stdint.h>
#include <stdio.h>
void t_requant(const int32_t*, const int32_t*, const int32_t*, int32_t*, int32_t*);
static int32_t a[{n}], b[{n}], s[{n}], r1[{n}], r2[{n}];
int main(void) {{
  for (int i = 0; i < {n}; ++i) {{
    long x, y, z;
    if (scanf("%ld %ld %ld", &x, &y, &z) != 3) return 1;
    a[i] = (int32_t)x; b[i] = (int32_t)y; s[i] = (int32_t)z;
  }}
  t_requant(a, b, s, r1, r2);
  for (int i = 0; i < {n}; ++i) printf("%ld %ld\\n", (long)r1[i], (long)r2[i]);
  return 0;
}}
""")
    exe = tmp_path / "requant"
    subprocess.run(["gcc", "-O2", str(main), str(obj), "-o", str(exe)], check=True, timeout=60)
    stdin = "".join(f"{x} {y} {z}\n" for x, y, z in cs)
    out = subprocess.run([str(exe)], input=stdin, capture_output=True, text=True, timeout=60, check=True)
    got = [tuple(int(v) for v in line.split()) for line in out.stdout.splitlines()]
    want = [(multiply_by_quantized_multiplier(x, y, z), single_rounding(x, y, z)) for x, y, z in cs]
    assert len(got) == n
    mismatches = [(c, g, w) for c, g, w in zip(cs, got, want) if g != w]
    assert not mismatches, mismatches[:5]
