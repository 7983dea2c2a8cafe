"""C helper functions the generated kernels call (TIR `call_pure_extern`).

Helpers are written here as `aotgen_<name>`; in a model they are named `<prefix>_<name>`, so that
kernels built by LLVM (which reference them as external symbols) still keep every symbol under
the model's prefix. The C backend emits them `static inline`; the LLVM backend emits them as
external functions in the C glue. All of them use 32-bit arithmetic only (no int64_t), with
32-bit literals (UINT32_C) so they stay right where `int` is 16 bits (AVR).
"""

from __future__ import annotations

import contextlib
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


def used_by(kernel_source: str, prefix: str, external: bool = False) -> str:
    """Definitions of every helper the source calls (and what those call), in dependency order,
    renamed to the model's prefix; `external` (LLVM kernels) makes them linkable."""
    order: list[str] = []

    def visit(name: str) -> None:
        if name in order:
            return
        for dep in HELPERS[name].needs:
            visit(dep)
        order.append(name)

    for name in HELPERS:
        if f"{prefix}_{name[len('aotgen_'):]}" in kernel_source:
            visit(name)
    text = "\n".join(HELPERS[n].source for n in order).replace("aotgen_", f"{prefix}_")
    return text.replace("static inline ", "") if external else text


# The 64-bit product of two 32-bit magnitudes as hi:lo, from 16-bit halves.
define("aotgen_umul64", """\
static inline void aotgen_umul64(uint32_t a, uint32_t b, uint32_t* hi, uint32_t* lo) {
  uint32_t a0 = a & 0xFFFFu, a1 = a >> 16, b0 = b & 0xFFFFu, b1 = b >> 16;
  uint32_t p00 = a0 * b0, p01 = a0 * b1, p10 = a1 * b0, p11 = a1 * b1;
  uint32_t mid = (p00 >> 16) + (p01 & 0xFFFFu) + (p10 & 0xFFFFu);
  *lo = (mid << 16) | (p00 & 0xFFFFu);
  *hi = p11 + (p01 >> 16) + (p10 >> 16) + (mid >> 16);
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
