"""C helper functions the generated kernels call (TIR `call_pure_extern`).

Helpers are written here as `aotgen_<name>`; in a model they are named `<prefix>_<name>`, so that
kernels built by LLVM (which reference them as external symbols) still keep every symbol under
the model's prefix. The C backend emits them `static inline`; the LLVM backend emits them as
external functions in the C glue. All of them use 32-bit arithmetic only (no int64_t), with
32-bit literals (UINT32_C) so they stay right where `int` is 16 bits (AVR); where a GNU C
compiler targets Thumb-2, the 64-bit product is one UMULL instruction.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass

from tvm import tirx

_prefix: ContextVar[str] = ContextVar("aotgen_helper_prefix", default="aotgen")


@contextlib.contextmanager
def symbol_prefix(prefix: str) -> Iterator[None]:
    """Name the helpers that kernels created inside this block call `<prefix>_<name>`."""
    token = _prefix.set(prefix)
    try:
        yield
    finally:
        _prefix.reset(token)


def call(dtype: str, name: str, *args):
    """A TIR call of helper `name` (e.g. "requantize") under the current model's prefix."""
    if f"aotgen_{name}" not in HELPERS:
        raise KeyError(f"no C helper aotgen_{name}")
    return tirx.call_pure_extern(dtype, f"{_prefix.get()}_{name}", *args)


@dataclass(frozen=True)
class Helper:
    name: str
    source: str
    needs: tuple[str, ...] = ()


HELPERS: dict[str, Helper] = {}


def define(name: str, source: str, needs: tuple[str, ...] = ()) -> None:
    HELPERS[name] = Helper(name, source, needs)


def used_by(kernel_source: str, prefix: str, external: bool = False, provided: tuple[str, ...] = ()) -> str:
    """Definitions of every helper the source calls (and what those call), in dependency order,
    renamed to the model's prefix; `external` (LLVM kernels) makes them linkable. Helpers named in
    `provided` (without aotgen_) are defined elsewhere and left out."""
    order: list[str] = []

    def visit(name: str) -> None:
        if name in order:
            return
        for dep in HELPERS[name].needs:
            visit(dep)
        order.append(name)

    for name in HELPERS:
        short = name[len("aotgen_"):]
        if short not in provided and re.search(rf"\b{prefix}_{short}\b", kernel_source):
            visit(name)
    text = "\n".join(HELPERS[n].source for n in order).replace("aotgen_", f"{prefix}_")
    return text.replace("static inline ", "") if external else text


# The 64-bit product of two 32-bit magnitudes as hi:lo: one UMULL on Thumb-2 cores (Cortex-M3
# and up), else from 16-bit halves.
define("aotgen_umul64", """\
static inline void aotgen_umul64(uint32_t a, uint32_t b, uint32_t* hi, uint32_t* lo) {
#if defined(__GNUC__) && defined(__thumb2__)
  __asm__("umull %0, %1, %2, %3" : "=r"(*lo), "=r"(*hi) : "r"(a), "r"(b));
#else
  uint32_t a0 = a & 0xFFFFu, a1 = a >> 16, b0 = b & 0xFFFFu, b1 = b >> 16;
  uint32_t p00 = a0 * b0, p01 = a0 * b1, p10 = a1 * b0, p11 = a1 * b1;
  uint32_t mid = (p00 >> 16) + (p01 & 0xFFFFu) + (p10 & 0xFFFFu);
  *lo = (mid << 16) | (p00 & 0xFFFFu);
  *hi = p11 + (p01 >> 16) + (p10 >> 16) + (mid >> 16);
#endif
}
""")

# gemmlowp's SaturatingRoundingDoublingHighMul.
define("aotgen_srdhm", """\
static inline int32_t aotgen_srdhm(int32_t a, int32_t b) {
  if (a == INT32_MIN && b == INT32_MIN) return INT32_MAX;
  bool neg = (a < 0) != (b < 0);
  uint32_t ua = a < 0 ? UINT32_C(0) - (uint32_t)a : (uint32_t)a;
  uint32_t ub = b < 0 ? UINT32_C(0) - (uint32_t)b : (uint32_t)b;
  uint32_t hi, lo;
  aotgen_umul64(ua, ub, &hi, &lo);
  /* (|a*b| + nudge) >> 31, nudge 2^30 (or 2^30 - 1 for a negative product: C truncation). */
  uint32_t nudge = neg ? (UINT32_C(1) << 30) - UINT32_C(1) : (UINT32_C(1) << 30);
  uint32_t lo2 = lo + nudge;
  hi += lo2 < lo;
  uint32_t q = (hi << 1) | (lo2 >> 31);
  return neg ? (int32_t)(UINT32_C(0) - q) : (int32_t)q;
}
""", needs=("aotgen_umul64",))

# TFLite's MultiplyByQuantizedMultiplier: SaturatingRoundingDoublingHighMul, then
# RoundingDivideByPOT (double rounding, the default build of TFLite).
define("aotgen_requantize", """\
static inline int32_t aotgen_requantize(int32_t x, int32_t multiplier, int32_t shift) {
  int32_t left = shift > 0 ? shift : 0;
  int32_t right = shift > 0 ? 0 : -shift;
  int32_t v = aotgen_srdhm((int32_t)((uint32_t)x << left), multiplier);
  int32_t mask = (int32_t)((UINT32_C(1) << right) - UINT32_C(1));
  int32_t remainder = v & mask;
  int32_t threshold = (mask >> 1) + (v < 0 ? 1 : 0);
  return (v >> right) + (remainder > threshold ? 1 : 0);
}
""", needs=("aotgen_srdhm",))

# The single-rounding variant, which LiteRT's reference FULLY_CONNECTED computes.
define("aotgen_requantize_single", """\
static inline int32_t aotgen_requantize_single(int32_t x, int32_t multiplier, int32_t shift) {
  bool neg = (x < 0) != (multiplier < 0);
  uint32_t ua = x < 0 ? UINT32_C(0) - (uint32_t)x : (uint32_t)x;
  uint32_t ub = multiplier < 0 ? UINT32_C(0) - (uint32_t)multiplier : (uint32_t)multiplier;
  uint32_t hi, lo;
  aotgen_umul64(ua, ub, &hi, &lo);
  if (neg) { /* two's complement of hi:lo */
    lo = ~lo + UINT32_C(1);
    hi = ~hi + (lo == UINT32_C(0));
  }
  int32_t total = 31 - shift; /* 24..62 */
  if (total - 1 < 32) {
    uint32_t r = UINT32_C(1) << (total - 1);
    uint32_t lo2 = lo + r;
    hi += lo2 < lo;
    lo = lo2;
  } else {
    hi += UINT32_C(1) << (total - 33);
  }
  if (total >= 32) return (int32_t)hi >> (total - 32);
  return (int32_t)((lo >> total) | (hi << (32 - total)));
}
""", needs=("aotgen_umul64",))

# gemmlowp's RoundingDivideByPOT (round half away from zero). TFLite never shifts by more than
# 31; a larger exponent (undefined behaviour there) is clamped here.
define("aotgen_rdbpot", """\
static inline int32_t aotgen_rdbpot(int32_t x, int32_t exponent) {
  if (exponent > 31) exponent = 31;
  int32_t mask = (int32_t)((UINT32_C(1) << exponent) - UINT32_C(1));
  int32_t remainder = x & mask;
  int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
  return (x >> exponent) + (remainder > threshold ? 1 : 0);
}
""")

# gemmlowp's SaturatingRoundingMultiplyByPOT<exponent> for exponent > 0: a saturating left shift.
define("aotgen_sat_shl", """\
static inline int32_t aotgen_sat_shl(int32_t x, int32_t exponent) {
  int32_t threshold = (int32_t)((UINT32_C(1) << (31 - exponent)) - UINT32_C(1));
  if (x > threshold) return INT32_MAX;
  if (x < -threshold) return INT32_MIN;
  return (int32_t)((uint32_t)x << exponent);
}
""")

# Leading zero bits of x (TFLite's CountLeadingZeros), portable C.
define("aotgen_clz", """\
static inline int32_t aotgen_clz(uint32_t x) {
  int32_t n = 0;
  if (x == UINT32_C(0)) return 32;
  while (!(x & UINT32_C(0x80000000))) {
    x <<= 1;
    ++n;
  }
  return n;
}
""")

# gemmlowp's exp_on_interval_between_negative_one_quarter_and_0_excl: Q0.31 in, Q0.31 out; a
# Taylor expansion around -1/8.
define("aotgen_exp_quarter", """\
static inline int32_t aotgen_exp_quarter(int32_t a) {
  const int32_t constant_term = INT32_C(1895147668); /* exp(-1/8) */
  const int32_t one_third = INT32_C(715827883);
  int32_t x = a + (INT32_C(1) << 28);
  int32_t x2 = aotgen_srdhm(x, x);
  int32_t x3 = aotgen_srdhm(x2, x);
  int32_t x4 = aotgen_srdhm(x2, x2);
  int32_t x4_over_4 = aotgen_rdbpot(x4, 2);
  int32_t poly = aotgen_rdbpot(aotgen_srdhm(x4_over_4 + x3, one_third) + x2, 1);
  return constant_term + aotgen_srdhm(constant_term, x + poly);
}
""", needs=("aotgen_srdhm", "aotgen_rdbpot"))

# gemmlowp's exp_on_negative_values for a Q5.26 input (a <= 0), Q0.31 out: exp of a mod 1/4,
# then one multiplication by exp(-2^k) per set bit k of the rest (the "barrel shifter").
define("aotgen_exp_neg_q5_26", """\
static inline int32_t aotgen_exp_neg_q5_26(int32_t a) {
  const int32_t one_quarter = INT32_C(1) << 24;
  int32_t a_mod_quarter_minus_one_quarter = (a & (one_quarter - INT32_C(1))) - one_quarter;
  int32_t result = aotgen_exp_quarter((int32_t)((uint32_t)a_mod_quarter_minus_one_quarter << 5));
  int32_t remainder = a_mod_quarter_minus_one_quarter - a;
  if (remainder & (INT32_C(1) << 24)) result = aotgen_srdhm(result, INT32_C(1672461947)); /* exp(-1/4) */
  if (remainder & (INT32_C(1) << 25)) result = aotgen_srdhm(result, INT32_C(1302514674)); /* exp(-1/2) */
  if (remainder & (INT32_C(1) << 26)) result = aotgen_srdhm(result, INT32_C(790015084));  /* exp(-1) */
  if (remainder & (INT32_C(1) << 27)) result = aotgen_srdhm(result, INT32_C(290630308));  /* exp(-2) */
  if (remainder & (INT32_C(1) << 28)) result = aotgen_srdhm(result, INT32_C(39332535));   /* exp(-4) */
  if (remainder & (INT32_C(1) << 29)) result = aotgen_srdhm(result, INT32_C(720401));     /* exp(-8) */
  if (remainder & (INT32_C(1) << 30)) result = aotgen_srdhm(result, INT32_C(242));        /* exp(-16) */
  return a == INT32_C(0) ? INT32_MAX : result;
}
""", needs=("aotgen_srdhm", "aotgen_exp_quarter"))

# gemmlowp's one_over_one_plus_x_for_x_in_0_1 (Q0.31 in and out): Newton-Raphson, 3 steps.
define("aotgen_one_over_one_plus_x", """\
static inline int32_t aotgen_one_over_one_plus_x(int32_t a) {
  /* RoundingHalfSum(a, One()); a >= 0 here, so a + 2^31 fits in uint32_t. */
  int32_t half_denominator = (int32_t)(((uint32_t)a + UINT32_C(0x80000000)) >> 1);
  const int32_t one_q2_29 = INT32_C(1) << 29;
  int32_t x = INT32_C(1515870810) /* 48/17 */ + aotgen_srdhm(half_denominator, INT32_C(-1010580540) /* -32/17 */);
  for (int32_t i = 0; i < 3; ++i) {
    int32_t one_minus_half_denominator_times_x = one_q2_29 - aotgen_srdhm(half_denominator, x);
    x = x + aotgen_sat_shl(aotgen_srdhm(x, one_minus_half_denominator_times_x), 2);
  }
  return aotgen_sat_shl(x, 1);
}
""", needs=("aotgen_srdhm", "aotgen_sat_shl"))

# TFLite's int8 softmax, step 1 (reference_ops::Softmax): exp(beta * scale * diff) in Q0.31 for
# diff = x - row max, via MultiplyByQuantizedMultiplierGreaterThanOne into Q5.26. Differences
# below diff_min contribute nothing (0).
define("aotgen_softmax_exp", """\
static inline int32_t aotgen_softmax_exp(int32_t diff, int32_t multiplier, int32_t left_shift, int32_t diff_min) {
  if (diff < diff_min) return 0;
  return aotgen_exp_neg_q5_26(aotgen_srdhm((int32_t)((uint32_t)diff << left_shift), multiplier));
}
""", needs=("aotgen_srdhm", "aotgen_exp_neg_q5_26"))

# TFLite's int8 softmax, step 2: one element's exp (Q0.31) times the reciprocal of its row's
# sum of exps (Q12.19; GetReciprocal), in 1/256 units offset by -128, clamped to int8.
define("aotgen_softmax_out", """\
static inline int32_t aotgen_softmax_out(int32_t exp_q0_31, int32_t sum_q12_19) {
  int32_t headroom_plus_one = aotgen_clz((uint32_t)sum_q12_19);
  int32_t num_bits_over_unit = 12 - headroom_plus_one;
  int32_t shifted_sum_minus_one = (int32_t)(((uint32_t)sum_q12_19 << headroom_plus_one) - UINT32_C(0x80000000));
  int32_t shifted_scale = aotgen_one_over_one_plus_x(shifted_sum_minus_one);
  int32_t v = aotgen_rdbpot(aotgen_srdhm(shifted_scale, exp_q0_31), num_bits_over_unit + 31 - 8) - 128;
  return v < -128 ? -128 : (v > 127 ? 127 : v);
}
""", needs=("aotgen_clz", "aotgen_one_over_one_plus_x", "aotgen_srdhm", "aotgen_rdbpot"))

# TFLite's AffineQuantize for a float input (a model's float interface): x / scale rounded half
# away from zero (TfLiteRound; C's nearbyintf would round halves to even), plus the zero point,
# clamped to int8. |x / scale| >= 4096 saturates anyway; clamping first keeps the cast defined.
define("aotgen_quantize_f32_int8", """\
static inline int32_t aotgen_quantize_f32_int8(float x, float scale, int32_t zero_point) {
  float v = x / scale;
  float a = v < 0.0f ? -v : v;
  if (!(a < 4096.0f)) a = 4096.0f;
  int32_t r = (int32_t)a;
  if (a - (float)r >= 0.5f) r += 1;
  int32_t q = (v < 0.0f ? -r : r) + zero_point;
  return q < -128 ? -128 : (q > 127 ? 127 : q);
}
""")
