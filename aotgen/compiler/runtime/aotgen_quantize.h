/* Float <-> int8 conversions: a float interface quantized as TFLite does, and the float-rounded
 * requantization of ONNX QDQ models (onnxruntime's nearbyintf((float)acc * scale)) in integers.
 *
 * Every function is `static inline` and named aotgen_<name>; the emitter copies the ones a model
 * calls into its library renamed <prefix>_<name> (compiler/c_helpers.py). Standard headers only. */
#ifndef AOTGEN_QUANTIZE_H
#define AOTGEN_QUANTIZE_H

#include <stdbool.h>
#include <stdint.h>
#include "aotgen_fixedpoint.h"

/* TFLite's AffineQuantize for a float input (a model's float interface): x / scale rounded half
 * away from zero (TfLiteRound; C's nearbyintf would round halves to even), plus the zero point,
 * clamped to int8. |x / scale| >= 4096 saturates anyway; clamping first keeps the cast defined. */
static inline int32_t aotgen_quantize_f32_int8(float x, float scale, int32_t zero_point) {
  float v = x / scale;
  float a = v < 0.0f ? -v : v;
  if (!(a < 4096.0f)) a = 4096.0f;
  int32_t r = (int32_t)a;
  if (a - (float)r >= 0.5f) r += 1;
  int32_t q = (v < 0.0f ? -r : r) + zero_point;
  return q < -128 ? -128 : (q > 127 ? 127 : q);
}

/* nearbyintf((float)acc * scale) for scale = m * 2^-e (m its 24-bit float32 significand), packed
 * as m | e << 24: each float rounding (int -> float, the product) is a round to 24 significant
 * bits, half to even, done on the exact 55-bit product; then the half-to-even round to integer. */
static inline int32_t aotgen_bitlen(uint32_t v) {
  int32_t n = 0;
  if (v >> 16) { v >>= 16; n += 16; }
  if (v >> 8) { v >>= 8; n += 8; }
  if (v >> 4) { v >>= 4; n += 4; }
  if (v >> 2) { v >>= 2; n += 2; }
  if (v >> 1) { v >>= 1; n += 1; }
  return n + (int32_t)v;
}

static inline uint32_t aotgen_rshift_even(uint32_t hi, uint32_t lo, int32_t sh) {
  /* (hi:lo) >> sh, 1 <= sh <= 31, rounded half to even; the result must fit 32 bits. */
  uint32_t mask = (UINT32_C(1) << sh) - UINT32_C(1);
  uint32_t half = UINT32_C(1) << (sh - 1);
  uint32_t q = (lo >> sh) | (hi << (32 - sh));
  uint32_t rem = lo & mask;
  return q + ((rem > half || (rem == half && (q & UINT32_C(1)))) ? UINT32_C(1) : UINT32_C(0));
}

static inline int32_t aotgen_requantize_float(int32_t acc, int32_t packed) {
  uint32_t m = (uint32_t)packed & UINT32_C(0xFFFFFF);
  int32_t e = (int32_t)((uint32_t)packed >> 24);
  bool neg = acc < 0;
  uint32_t a = neg ? UINT32_C(0) - (uint32_t)acc : (uint32_t)acc;
  int32_t n = aotgen_bitlen(a);
  if (n > 24) a = aotgen_rshift_even(0, a, n - 24) << (n - 24); /* (float)acc */
  uint32_t hi, lo;
  aotgen_umul64(a, m, &hi, &lo);
  int32_t bits = hi ? 32 + aotgen_bitlen(hi) : aotgen_bitlen(lo);
  int32_t r = bits > 24 ? bits - 24 : 0;
  uint32_t q = r ? aotgen_rshift_even(hi, lo, r) : lo; /* the float product is q * 2^(r - e) */
  int32_t sh = e - r;
  uint32_t v;
  if (sh <= 0) v = -sh > 6 ? (UINT32_C(1) << 30) : q << -sh;
  else if (sh >= 25) v = 0;
  else v = aotgen_rshift_even(0, q, sh);
  return neg ? (int32_t)(UINT32_C(0) - v) : (int32_t)v;
}

#endif /* AOTGEN_QUANTIZE_H */
