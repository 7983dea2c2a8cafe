/* int8 elementwise ADD / SUB / MUL of two tensors of the same shape (TFLite's AddElementwise,
 * SubElementwise, MulElementwise, int8 in and out), one call per layer.
 *
 * ADD/SUB: each input (x - zp) << 20 is rescaled to the common base by MultiplyByQuantizedMultiplier
 * (|(x - zp) << 20| < 2^28 and a right shift, as add.cc's Prepare makes them: the fast form is
 * always exact there), summed, and the sum (|sum| < 2^28) requantized to the output; MUL: the
 * product of the offset inputs (|p| <= 255^2) requantized. `fast_out` (compile time: the output
 * shift <= 0) lets the output requantization use the fast form too; aotgen_requantize_fast is the
 * SMMULR form on DSP cores and the general one elsewhere (M0/M3/AVR/RV32/host), exact in both.
 *
 * Every function is `static inline` and named aotgen_<name>; the emitter copies the ones a model
 * calls into its library renamed <prefix>_<name> (compiler/c_helpers.py). Standard headers only. */
#ifndef AOTGEN_ELEMENTWISE_S8_H
#define AOTGEN_ELEMENTWISE_S8_H

#include <stdint.h>

#include "aotgen_dsp.h"

/* y = a + b (a - b when `subtract`), n elements; (m1, s1), (m2, s2), (mo, so): add.cc's
 * input and output multipliers, left shift 20. */
static inline void aotgen_add_s8(const int8_t* a, const int8_t* b, int32_t n, int32_t zp1, int32_t zp2,
                                 int32_t m1, int32_t s1, int32_t m2, int32_t s2, int32_t mo, int32_t so,
                                 int32_t fast_out, int32_t zp_out, int32_t lo, int32_t hi, int32_t subtract,
                                 int8_t* y) {
  for (int32_t i = 0; i < n; ++i) {
    const int32_t xa = aotgen_requantize_fast((int32_t)((uint32_t)(a[i] - zp1) << 20), m1, s1);
    const int32_t xb = aotgen_requantize_fast((int32_t)((uint32_t)(b[i] - zp2) << 20), m2, s2);
    y[i] = aotgen_out_s8(subtract ? xa - xb : xa + xb, mo, so, fast_out, zp_out, lo, hi);
  }
}

/* y = a * b, n elements, mul.cc's multiplier (m, s). */
static inline void aotgen_mul_s8(const int8_t* a, const int8_t* b, int32_t n, int32_t zp1, int32_t zp2, int32_t m,
                                 int32_t s, int32_t fast_out, int32_t zp_out, int32_t lo, int32_t hi, int8_t* y) {
  for (int32_t i = 0; i < n; ++i)
    y[i] = aotgen_out_s8((int32_t)(a[i] - zp1) * (int32_t)(b[i] - zp2), m, s, fast_out, zp_out, lo, hi);
}

#endif /* AOTGEN_ELEMENTWISE_S8_H */
