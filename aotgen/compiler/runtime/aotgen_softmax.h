/* TFLite's int8 softmax arithmetic (reference_ops::Softmax): exp and reciprocal in fixed point.
 *
 * Every function is `static inline` and named aotgen_<name>; the emitter copies the ones a model
 * calls into its library renamed <prefix>_<name> (compiler/c_helpers.py). Standard headers only. */
#ifndef AOTGEN_SOFTMAX_H
#define AOTGEN_SOFTMAX_H

#include <stdbool.h>
#include <stdint.h>
#include "aotgen_fixedpoint.h"

/* gemmlowp's exp_on_interval_between_negative_one_quarter_and_0_excl: Q0.31 in, Q0.31 out; a
 * Taylor expansion around -1/8. */
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

/* gemmlowp's exp_on_negative_values for a Q5.26 input (a <= 0), Q0.31 out: exp of a mod 1/4,
 * then one multiplication by exp(-2^k) per set bit k of the rest (the "barrel shifter"). */
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

/* gemmlowp's one_over_one_plus_x_for_x_in_0_1 (Q0.31 in and out): Newton-Raphson, 3 steps. */
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

/* TFLite's int8 softmax, step 1 (reference_ops::Softmax): exp(beta * scale * diff) in Q0.31 for
 * diff = x - row max, via MultiplyByQuantizedMultiplierGreaterThanOne into Q5.26. Differences
 * below diff_min contribute nothing (0). */
static inline int32_t aotgen_softmax_exp(int32_t diff, int32_t multiplier, int32_t left_shift, int32_t diff_min) {
  if (diff < diff_min) return 0;
  return aotgen_exp_neg_q5_26(aotgen_srdhm((int32_t)((uint32_t)diff << left_shift), multiplier));
}

/* TFLite's int8 softmax, step 2: one element's exp (Q0.31) times the reciprocal of its row's
 * sum of exps (Q12.19; GetReciprocal), in 1/256 units offset by -128, clamped to int8. */
static inline int32_t aotgen_softmax_out(int32_t exp_q0_31, int32_t sum_q12_19) {
  int32_t headroom_plus_one = aotgen_clz((uint32_t)sum_q12_19);
  int32_t num_bits_over_unit = 12 - headroom_plus_one;
  int32_t shifted_sum_minus_one = (int32_t)(((uint32_t)sum_q12_19 << headroom_plus_one) - UINT32_C(0x80000000));
  int32_t shifted_scale = aotgen_one_over_one_plus_x(shifted_sum_minus_one);
  int32_t v = aotgen_rdbpot(aotgen_srdhm(shifted_scale, exp_q0_31), num_bits_over_unit + 31 - 8) - 128;
  return v < -128 ? -128 : (v > 127 ? 127 : v);
}

#endif /* AOTGEN_SOFTMAX_H */
