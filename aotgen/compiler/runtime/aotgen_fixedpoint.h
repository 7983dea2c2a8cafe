/* TFLite's (gemmlowp's) fixed-point integer arithmetic, in 32-bit operations only (no int64_t;
 * 32-bit literals, so 16-bit-int AVR stays right); on Thumb-2 the 64-bit product is one UMULL.
 *
 * Every function is `static inline` and named aotgen_<name>; the emitter copies the ones a model
 * calls into its library renamed <prefix>_<name> (compiler/c_helpers.py). Standard headers only. */
#ifndef AOTGEN_FIXEDPOINT_H
#define AOTGEN_FIXEDPOINT_H

#include <stdbool.h>
#include <stdint.h>

/* The 64-bit product of two 32-bit magnitudes as hi:lo: one UMULL on Thumb-2 cores (Cortex-M3
 * and up), else from 16-bit halves. */
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

/* gemmlowp's SaturatingRoundingDoublingHighMul. */
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

/* TFLite's MultiplyByQuantizedMultiplier: SaturatingRoundingDoublingHighMul, then
 * RoundingDivideByPOT (double rounding, the default build of TFLite). */
static inline int32_t aotgen_requantize(int32_t x, int32_t multiplier, int32_t shift) {
  int32_t left = shift > 0 ? shift : 0;
  int32_t right = shift > 0 ? 0 : -shift;
  int32_t v = aotgen_srdhm((int32_t)((uint32_t)x << left), multiplier);
  int32_t mask = (int32_t)((UINT32_C(1) << right) - UINT32_C(1));
  int32_t remainder = v & mask;
  int32_t threshold = (mask >> 1) + (v < 0 ? 1 : 0);
  return (v >> right) + (remainder > threshold ? 1 : 0);
}

/* TFLite's MultiplyByQuantizedMultiplier(acc, multiplier, shift) for shift <= 0 and
 * |acc| < 2^30: SaturatingRoundingDoublingHighMul(acc, m) is then exactly SMMULR(2 acc, m)
 * = (2 acc m + 2^31) >> 32, and RoundingDivideByPOT(v, e) is (v + (v >> 31) + 2^(e-1)) >> e.
 * Without SMMULR it is the general form. */
static inline int32_t aotgen_requantize_fast(int32_t acc, int32_t multiplier, int32_t shift) {
#if (defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP && defined(__GNUC__)) || defined(AOTGEN_DSP_EMULATE)
  int32_t v;
  int32_t e = -shift;
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP && defined(__GNUC__)
  __asm__("smmulr %0, %1, %2" : "=r"(v) : "r"(acc * 2), "r"(multiplier));
#else
  /* SMMULR(2 acc, m) as the instruction computes it, 2 acc wrapping in 32 bits: srdhm of the
   * wrapped value halved (2 acc is even), which is srdhm(acc, m) for |acc| < 2^30 */
  v = aotgen_srdhm((int32_t)((uint32_t)acc << 1) >> 1, multiplier);
#endif
  if (e > 0) v = (v + (v >> 31) + (int32_t)(UINT32_C(1) << (e - 1))) >> e;
  return v;
#else
  return aotgen_requantize(acc, multiplier, shift);
#endif
}

/* The single-rounding variant, which LiteRT's reference FULLY_CONNECTED computes. */
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

/* gemmlowp's RoundingDivideByPOT (round half away from zero). TFLite never shifts by more than
 * 31; a larger exponent (undefined behaviour there) is clamped here. */
static inline int32_t aotgen_rdbpot(int32_t x, int32_t exponent) {
  if (exponent > 31) exponent = 31;
  int32_t mask = (int32_t)((UINT32_C(1) << exponent) - UINT32_C(1));
  int32_t remainder = x & mask;
  int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
  return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

/* gemmlowp's SaturatingRoundingMultiplyByPOT<exponent> for exponent > 0: a saturating left shift. */
static inline int32_t aotgen_sat_shl(int32_t x, int32_t exponent) {
  int32_t threshold = (int32_t)((UINT32_C(1) << (31 - exponent)) - UINT32_C(1));
  if (x > threshold) return INT32_MAX;
  if (x < -threshold) return INT32_MIN;
  return (int32_t)((uint32_t)x << exponent);
}

/* Leading zero bits of x (TFLite's CountLeadingZeros), portable C. */
static inline int32_t aotgen_clz(uint32_t x) {
  int32_t n = 0;
  if (x == UINT32_C(0)) return 32;
  while (!(x & UINT32_C(0x80000000))) {
    x <<= 1;
    ++n;
  }
  return n;
}

#endif /* AOTGEN_FIXEDPOINT_H */
