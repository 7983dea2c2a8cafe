"""The runtime C that generated code carries (aotgen/compiler/runtime/*.h) on its own: every header
compiles alone with the host gcc and the Arm cross compiler, defines only aotgen_* symbols and
includes only standard headers; each helper agrees at its edges with the Python model of TFLite's
arithmetic (tests/tflite_arith.py); the emitter renames the helpers to the model's prefix."""

from __future__ import annotations

import math
import re
import shutil
import subprocess

import numpy as np
import pytest

import tflite_arith as T
from aotgen.compiler import c_helpers
from aotgen.compiler.qdq import pack_scale

RUNTIME = c_helpers.RUNTIME_DIR
HEADERS = sorted(p.name for p in RUNTIME.glob("*.h"))
WARNINGS = ["-std=c99", "-Wall", "-Wextra", "-Werror"]
COMPILERS = {
    "host": ["gcc"],
    "cortex-m0": ["arm-none-eabi-gcc", "-mcpu=cortex-m0", "-mthumb"],
    "cortex-m4": ["arm-none-eabi-gcc", "-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"],
    "cortex-m7": ["arm-none-eabi-gcc", "-mcpu=cortex-m7", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv5-sp-d16"],
}


def test_the_headers_are_the_ones_the_emitter_reads():
    assert set(HEADERS) == set(c_helpers.HEADERS)
    assert {f"aotgen_{n}" for n in ("requantize", "softmax_out", "dot_s8", "requantize_float")} <= set(c_helpers.HELPERS)


@pytest.mark.parametrize("cpu", COMPILERS)
@pytest.mark.parametrize("header", HEADERS)
def test_header_compiles_alone(header, cpu, tmp_path):
    """-fkeep-inline-functions: every static inline function is compiled (and its inline assembly
    assembled for the core), not only parsed."""
    cc = COMPILERS[cpu]
    if shutil.which(cc[0]) is None:
        pytest.skip(f"{cc[0]} not installed")
    src = tmp_path / "unit.c"
    src.write_text(f'#include "{header}"\n')
    obj = tmp_path / "unit.o"
    subprocess.run([*cc, *WARNINGS, "-O2", "-fkeep-inline-functions", "-I", str(RUNTIME), "-c", str(src),
                    "-o", str(obj)], check=True, timeout=60, capture_output=True)
    nm = "nm" if cpu == "host" else "arm-none-eabi-nm"
    symbols = [line.split()[-1] for line in subprocess.run([nm, "--defined-only", str(obj)], capture_output=True,
                                                           text=True, check=True, timeout=60).stdout.splitlines()
               if line.split()[-2] in "tT"]
    assert symbols and all(s.startswith("aotgen_") for s in symbols), symbols


@pytest.mark.parametrize("header", HEADERS)
def test_header_includes_only_standard_headers(header):
    includes = re.findall(r'^#include\s+(\S+)', (RUNTIME / header).read_text(), re.M)
    assert all(i in ("<stdint.h>", "<stdbool.h>") or re.fullmatch(r'"aotgen_\w+\.h"', i) for i in includes), includes


def test_emitted_helpers_are_renamed_and_pulled_in_with_what_they_call():
    text = c_helpers.used_by("y = m1_softmax_out(e, s);", "m1")
    assert "aotgen_" not in text
    for needed in ("m1_softmax_out", "m1_one_over_one_plus_x", "m1_clz", "m1_srdhm", "m1_umul64", "m1_rdbpot",
                   "m1_sat_shl"):
        assert f" {needed}(" in text, needed
    assert "m1_requantize(" not in text  # not called, not emitted
    assert text.index("m1_umul64(uint32_t") < text.index("m1_srdhm(int32_t")  # definitions before use
    external = c_helpers.used_by("m1_requantize(", "m1", external=True)
    # the helper LLVM kernels call is linkable; what only it calls stays static inline (inlined)
    assert "\nint32_t m1_requantize(" in "\n" + external and "static inline int32_t m1_requantize(" not in external
    assert "static inline int32_t m1_srdhm(" in external and "static inline void m1_umul64(" in external


# --- each helper at its edges, against tflite_arith --------------------------------------------

DRIVER = r"""
#include <stdio.h>
#include <string.h>
#include "aotgen_dot.h"
#include "aotgen_quantize.h"
#include "aotgen_softmax.h"
int main(void) {
  char name[32];
  long a, b, c, d;
  while (scanf("%31s %ld %ld %ld %ld", name, &a, &b, &c, &d) == 5) {
    int32_t x = (int32_t)a, y = (int32_t)b, z = (int32_t)c, w = (int32_t)d;
    long r = 0;
    if (!strcmp(name, "umul64")) { uint32_t hi, lo; aotgen_umul64((uint32_t)a, (uint32_t)b, &hi, &lo);
                                    printf("%lu %lu\n", (unsigned long)hi, (unsigned long)lo); continue; }
    else if (!strcmp(name, "srdhm")) r = aotgen_srdhm(x, y);
    else if (!strcmp(name, "rdbpot")) r = aotgen_rdbpot(x, y);
    else if (!strcmp(name, "sat_shl")) r = aotgen_sat_shl(x, y);
    else if (!strcmp(name, "clz")) r = aotgen_clz((uint32_t)a);
    else if (!strcmp(name, "exp_neg")) r = aotgen_exp_neg_q5_26(x);
    else if (!strcmp(name, "one_over")) r = aotgen_one_over_one_plus_x(x);
    else if (!strcmp(name, "softmax_exp")) r = aotgen_softmax_exp(x, y, z, w);
    else if (!strcmp(name, "softmax_out")) r = aotgen_softmax_out(x, y);
    else if (!strcmp(name, "bitlen")) r = aotgen_bitlen((uint32_t)a);
    else if (!strcmp(name, "rshift_even")) r = (long)aotgen_rshift_even((uint32_t)a, (uint32_t)b, z);
    else if (!strcmp(name, "requantize_float")) r = aotgen_requantize_float(x, y);
    else if (!strcmp(name, "requantize_fast")) r = aotgen_requantize_fast(x, y, z);
    else if (!strcmp(name, "quantize")) { float f; uint32_t bits = (uint32_t)a; float s; uint32_t sb = (uint32_t)b;
                                          memcpy(&f, &bits, 4); memcpy(&s, &sb, 4); r = aotgen_quantize_f32_int8(f, s, z); }
    else if (!strcmp(name, "dot")) {  /* a pseudo-random vector pair of length c from seed a, offset b */
      int8_t xs[300], ws[300]; uint32_t s = (uint32_t)a;
      for (int i = 0; i < z; ++i) { s = s * 1103515245u + 12345u; xs[i] = (int8_t)(s >> 24);
                                    s = s * 1103515245u + 12345u; ws[i] = (int8_t)(s >> 24); }
      if (d) for (int i = 0; i < z; ++i) { xs[i] = (int8_t)(d > 0 ? 127 : -128); ws[i] = (int8_t)(d > 0 ? 127 : -127); }
      r = aotgen_dot_s8(xs, ws, z, y);
    }
    else return 2;
    printf("%ld\n", r);
  }
  return 0;
}
"""


def lcg_vectors(seed: int, n: int, extreme: int) -> tuple[list[int], list[int]]:
    s, xs, ws = seed, [], []
    for _ in range(n):
        s = (s * 1103515245 + 12345) % 2**32
        xs.append(T.wrap32(s >> 24) if (s >> 24) < 128 else (s >> 24) - 256)
        s = (s * 1103515245 + 12345) % 2**32
        ws.append((s >> 24) if (s >> 24) < 128 else (s >> 24) - 256)
    if extreme:
        xs, ws = [127 if extreme > 0 else -128] * n, [127 if extreme > 0 else -127] * n
    return xs, ws


def f32_bits(v: float) -> int:
    return int(np.float32(v).view(np.uint32))


def edge_cases() -> list[tuple[str, tuple[int, ...], object]]:
    """(helper, arguments, expected) — the edges of each helper, then seeded random values."""
    rng = np.random.default_rng(11)
    i32 = [0, 1, -1, 2, T.INT32_MAX, T.INT32_MIN, T.INT32_MIN + 1, 2**30, -(2**30), 2**30 - 1, 12345, -12345]
    cases: list[tuple[str, tuple[int, ...], object]] = []
    for a in [0, 1, 0xFFFF, 0x10000, 2**31, 2**32 - 1] + [int(v) for v in rng.integers(0, 2**32, 50)]:
        for b in [0, 1, 2**32 - 1, 0xFFFF0001]:
            cases.append(("umul64", (a, b), f"{(a * b) >> 32} {(a * b) & 0xFFFFFFFF}"))
    for a in i32 + [int(v) for v in rng.integers(-(2**31), 2**31, 200)]:
        for b in i32[:8]:
            cases.append(("srdhm", (a, b), T.srdhm(a, b)))
        for e in (0, 1, 5, 30, 31):
            cases.append(("rdbpot", (a, e), T.rounding_divide_by_pot(a, e)))
        cases.append(("rdbpot", (a, 40), T.rounding_divide_by_pot(a, 31)))  # clamped to 31
        for e in (1, 2, 5, 30):
            cases.append(("sat_shl", (a, e), T.saturating_shift_left(a, e)))
    for v in [0, 1, 2, 3, 0x80000000, 0xFFFFFFFF, 0x00010000, 0x7FFFFFFF] + [1 << k for k in range(32)]:
        cases.append(("clz", (v,), T.count_leading_zeros(v)))
        cases.append(("bitlen", (v,), v.bit_length()))
    for a in [0, -1, -(1 << 24), -(1 << 24) - 1, -(1 << 26), -(5 << 26), -(16 << 26), T.INT32_MIN, T.INT32_MIN + 1] + \
            [int(v) for v in rng.integers(-(2**31), 1, 300)]:
        cases.append(("exp_neg", (a,), T.exp_on_negative_values_q5_26(a)))
    for a in [0, 1, 2**30, T.INT32_MAX, T.INT32_MAX - 1] + [int(v) for v in rng.integers(0, 2**31, 300)]:
        cases.append(("one_over", (a,), T.one_over_one_plus_x_for_x_in_0_1(a)))
    for diff in [0, -1, -255, -256, -100, -99]:
        for mult, shift in ((2**30, 20), (1518500250, 23), (T.INT32_MAX, 26), (2**30 + 12345, 0)):
            cases.append(("softmax_exp", (diff, mult, shift, -100), T.softmax_exp(diff, mult, shift, -100)))
    for e in [0, 1, T.INT32_MAX, 2**30, 12345678]:
        # Sums of up to 2^28 (512 in Q12.19): beyond, TFLite would shift by more than 31 (undefined).
        for s in [1 << 19, (1 << 19) + 1, (1 << 28) - 1, 1 << 27, 3 << 19, 255 << 19, 12345]:
            cases.append(("softmax_out", (e, s), T.softmax_out(e, s)))
    for hi, lo, sh in [(0, 1, 1), (0, 3, 1), (0, 2, 1), (0, 6, 2), (0, 10, 2), (1, 0, 1), (0x3FFFFFFF, 0xFFFFFFFF, 31),
                       (0, 0x80000000, 31), (0, 0x7FFFFFFF, 31), (5, 0x80000000, 4)]:
        v = (hi << 32) | lo
        q, rem, half = v >> sh, v & ((1 << sh) - 1), 1 << (sh - 1)
        cases.append(("rshift_even", (hi, lo, sh), (q + (rem > half or (rem == half and q & 1))) & 0xFFFFFFFF))
    for scale in [np.float32(0.5), np.float32(1 / 3), np.float32(3.0e-5), np.float32(0.0123), np.float32(7.5),
                  np.float32(2.0**-40)]:
        for acc in [0, 1, -1, 3, -3, 12345, -12345, 2**24 + 1, -(2**24) - 3, 2**31 - 1, T.INT32_MIN] + \
                [int(v) for v in rng.integers(-(2**31), 2**31, 20)]:
            if abs(float(acc) * float(scale)) < 2**30:  # beyond, the helper saturates (no int8 output needs it)
                cases.append(("requantize_float", (acc, pack_scale(scale)), T.nearbyint_scaled(acc, scale)))
    for acc in [0, 1, -1, 2**30 - 1, -(2**30) + 1, 12345, -12345] + [int(v) for v in rng.integers(-(2**30) + 1, 2**30, 40)]:
        for m in (2**30, 1518500250, T.INT32_MAX, 2**30 + 12345):
            for shift in (0, -1, -7, -20, -31):  # the fast path's domain: |acc| < 2^30, no left shift
                cases.append(("requantize_fast", (acc, m, shift), T.multiply_by_quantized_multiplier(acc, m, shift)))
    for x in [0.0, 0.5, -0.5, 1.5, -1.5, 2.5, 1e30, -1e30, 0.1, 127.49, -128.6, 3.0, float("inf"), float("-inf")]:
        for scale, zp in ((1.0, 0), (0.1, -128), (0.584703, 83), (3.0, 127)):
            cases.append(("quantize", (f32_bits(x), f32_bits(scale), zp), T.affine_quantize_int8(x, scale, zp)))
    for n in (0, 1, 3, 4, 5, 8, 31, 64, 257):
        for offset in (0, 128, -127, 83):
            for extreme in (0, 1, -1):
                xs, ws = lcg_vectors(n * 7 + 1, n, extreme)
                cases.append(("dot", (n * 7 + 1, offset, n, extreme), sum((x + offset) * w for x, w in zip(xs, ws))))
    return cases


def test_every_helper_is_covered():
    names = {c[0] for c in edge_cases()}
    short = {"exp_neg": "exp_neg_q5_26", "one_over": "one_over_one_plus_x", "quantize": "quantize_f32_int8",
             "dot": "dot_s8"}
    tested = {f"aotgen_{short.get(n, n)}" for n in names}
    indirect = {"aotgen_requantize", "aotgen_requantize_single", "aotgen_exp_quarter",  # test_requantize; via exp_neg
                # the micro-kernels and their parts: test_conv1x1_against_tflite_arithmetic here, test_dsp.py in QEMU
                "aotgen_conv1x1_s8", "aotgen_conv1x1_channel_s8", "aotgen_output_s8", "aotgen_channel_requant",
                "aotgen_folded_bias", "aotgen_dwconv_s8", "aotgen_dw_channel_s8"}
    # the DSP instructions' C models and the shared epilogue: through the kernels' DSP_EMULATE paths
    indirect |= {n for n in c_helpers.read_helpers(("aotgen_dsp.h",))}
    indirect |= {n for n in c_helpers.read_helpers(("aotgen_conv_gemm_s8.h",))}  # test_conv_gemm_s8.py
    indirect |= {n for n in c_helpers.read_helpers(("aotgen_depthwise_s8.h",))}  # test_depthwise_s8.py
    indirect |= {n for n in c_helpers.read_helpers(("aotgen_fc_s8.h",))}  # test_fc_s8.py
    indirect |= {n for n in c_helpers.read_helpers(("aotgen_elementwise_s8.h",))}  # test_elementwise_s8.py
    indirect |= {n for n in c_helpers.read_helpers(("aotgen_lstm_s8.h",))}  # test_recurrent.py
    assert set(c_helpers.HELPERS) - tested - indirect == set()


def test_every_function_of_the_headers_is_a_helper():
    """The emitter copies what c_helpers reads: every `static` function the runtime headers define
    (an attribute such as always_inline included) is one of its helpers."""
    for header in c_helpers.HEADERS:
        defined = set(re.findall(r"^static\b[^;{]*?\b(aotgen_\w+)\(", (RUNTIME / header).read_text(), re.M))
        assert defined == set(c_helpers.read_helpers((header,))), header


def test_helpers_agree_with_tflite_arithmetic_at_their_edges(tmp_path):
    src = tmp_path / "driver.c"
    src.write_text(DRIVER)
    exe = tmp_path / "driver"
    # AOTGEN_DSP_EMULATE: the DSP branch of requantize_fast runs on the host through its C model.
    subprocess.run(["gcc", *WARNINGS, "-O2", "-DAOTGEN_DSP_EMULATE", "-I", str(RUNTIME), str(src), "-o", str(exe)],
                   check=True, timeout=60)
    cases = edge_cases()
    stdin = "".join(f"{name} {' '.join(str(a) for a in (args + (0, 0, 0, 0))[:4])}\n" for name, args, _ in cases)
    out = subprocess.run([str(exe)], input=stdin, capture_output=True, text=True, timeout=60, check=True)
    got = out.stdout.splitlines()
    assert len(got) == len(cases)
    wrong = [(name, args, g, want) for (name, args, want), g in zip(cases, got) if g != str(want)]
    assert not wrong, wrong[:8]


def test_the_python_model_is_the_real_function():
    """The model itself against the real numbers, so that a shared mistake cannot hide."""
    for a in np.linspace(-(16 << 26), 0, 97).astype(int):
        want = math.exp(a / 2**26) * 2**31
        assert abs(T.exp_on_negative_values_q5_26(int(a)) - min(want, 2**31 - 1)) <= 2**31 * 5e-7  # gemmlowp: ~2^-22
    for a in np.linspace(0, 2**31 - 1, 97).astype(int):
        assert abs(T.one_over_one_plus_x_for_x_in_0_1(int(a)) / 2**31 - 1 / (1 + a / 2**31)) < 1e-8


CONV1X1_DRIVER = r"""
#include <stdio.h>
#include "aotgen_conv_s8.h"
static int8_t x[4096], w[4096], y[4096];
static int32_t bias32[64], words[64];
static int16_t bias16[64];
static int8_t shifts[64];
int main(void) {
  long pixels, cin, cout, zp_in, zp_out, lo, hi, b16, mode, m0, s0, v;
  while (scanf("%ld %ld %ld %ld %ld %ld %ld %ld %ld %ld %ld", &pixels, &cin, &cout, &zp_in, &zp_out, &lo, &hi,
               &b16, &mode, &m0, &s0) == 11) {
    for (long i = 0; i < pixels * cin; ++i) { scanf("%ld", &v); x[i] = (int8_t)v; }
    for (long i = 0; i < cout * cin; ++i) { scanf("%ld", &v); w[i] = (int8_t)v; }
    for (long i = 0; i < cout; ++i) { scanf("%ld", &v); bias32[i] = (int32_t)v; bias16[i] = (int16_t)v; }
    for (long i = 0; i < cout; ++i) { scanf("%ld", &v); words[i] = (int32_t)v; }
    for (long i = 0; i < cout; ++i) { scanf("%ld", &v); shifts[i] = (int8_t)v; }
    aotgen_conv1x1_s8(x, w, b16 ? (const void*)bias16 : (const void*)bias32, (int32_t)b16, (int32_t)mode, words,
                      shifts, (int32_t)m0, (int32_t)s0, y, (int32_t)pixels, (int32_t)cin, (int32_t)cout,
                      (int32_t)zp_in, (int32_t)zp_out, (int32_t)lo, (int32_t)hi);
    for (long i = 0; i < pixels * cout; ++i) printf("%d ", y[i]);
    printf("\n");
  }
  return 0;
}
"""


def test_conv1x1_against_tflite_arithmetic(tmp_path):
    """The pointwise micro-kernel's plain-C path (the DSP path: tests/test_dsp.py in QEMU) against
    TFLite's ConvPerChannel arithmetic: every requantization encoding, int16 and int32 biases, zero
    points at both ends, weights at +-127, channel counts that leave tails, an activation clamp."""
    from aotgen.compiler.quantized.params import ChannelRequant

    src = tmp_path / "conv.c"
    src.write_text(CONV1X1_DRIVER)
    exe = tmp_path / "conv"
    subprocess.run(["gcc", *WARNINGS, "-O2", "-I", str(RUNTIME), str(src), "-o", str(exe)], check=True, timeout=60)
    rng = np.random.default_rng(3)
    cases, lines = [], []
    for pixels, cin, cout, zp_in, b16, kind in [(3, 5, 3, -128, True, "scalar"), (7, 13, 6, 127, False, "packed"),
                                                (1, 64, 9, 83, False, "arrays"), (25, 3, 2, 0, True, "packed")]:
        x = rng.integers(-128, 128, (pixels, cin))
        w = rng.integers(-127, 128, (cout, cin))
        w[0, :] = 127
        bias = rng.integers(-300, 300, cout) if b16 else rng.integers(-(1 << 20), 1 << 20, cout)
        mult = np.full(cout, 1 << 30) + (0 if kind == "scalar" else rng.integers(0, (1 << 30) - 1, cout))
        shift = np.full(cout, -9) + (0 if kind == "scalar" else rng.integers(0, 4 if kind == "packed" else 9, cout))
        if kind == "arrays":
            mult[1] = 123456  # an unnormalized multiplier forces the arrays encoding
        rq = ChannelRequant(mult, shift)
        assert rq.kind == kind
        words = rq.tensors[0].astype(np.int64) if rq.tensors else np.zeros(cout, np.int64)
        shifts = rq.tensors[1].astype(np.int64) if len(rq.tensors) > 1 else np.zeros(cout, np.int64)
        m0, s0 = (int(mult[0]), int(shift[0])) if kind == "scalar" else (0, rq.base)
        zp_out, lo, hi = 5, -100, 127
        head = [pixels, cin, cout, zp_in, zp_out, lo, hi, int(b16), {"scalar": 0, "packed": 1, "arrays": 2}[kind], m0, s0]
        lines.append(" ".join(map(str, [*head, *x.ravel(), *w.ravel(), *bias, *words, *shifts])))
        want = [[max(lo, min(hi, T.multiply_by_quantized_multiplier(
            int(bias[o]) + int(((x[p] - zp_in) * w[o]).sum()), int(mult[o]), int(shift[o])) + zp_out))
            for o in range(cout)] for p in range(pixels)]
        cases.append(np.array(want).ravel())
    out = subprocess.run([str(exe)], input="\n".join(lines) + "\n", capture_output=True, text=True, timeout=60,
                         check=True).stdout.splitlines()
    assert len(out) == len(cases)
    for got, want in zip(out, cases):
        assert np.array_equal(np.array(got.split(), int), want)
