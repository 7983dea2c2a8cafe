/* int8 dot products: four MACs per step with the Arm DSP extension (SXTB16, SADD16, SMLAD) as
 * CMSIS-NN does, the plain loop elsewhere and for the tail (integer sums are exact in any order).
 *
 * Every function is `static inline` and named aotgen_<name>; the emitter copies the ones a model
 * calls into its library renamed <prefix>_<name> (compiler/c_helpers.py). Standard headers only. */
#ifndef AOTGEN_DOT_H
#define AOTGEN_DOT_H

#include <stdbool.h>
#include <stdint.h>

static inline int32_t aotgen_dot_s8(const int8_t* x, const int8_t* w, int32_t n, int32_t x_offset) {
  int32_t acc = 0;
  int32_t i = 0;
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP && defined(__GNUC__)
  /* x_offset in both 16-bit lanes; |x + x_offset| <= 255 fits a lane. __builtin_memcpy: one
   * (unaligned) word load even under -ffreestanding (Zephyr), where memcpy is a call. */
  uint32_t offset2 = ((uint32_t)(uint16_t)x_offset << 16) | (uint32_t)(uint16_t)x_offset;
  for (; i + 4 <= n; i += 4) {
    uint32_t xv, wv, x02, x13, w02, w13;
    __builtin_memcpy(&xv, x + i, 4);
    __builtin_memcpy(&wv, w + i, 4);
    __asm__("sxtb16 %0, %1" : "=r"(x02) : "r"(xv));
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(x13) : "r"(xv));
    __asm__("sxtb16 %0, %1" : "=r"(w02) : "r"(wv));
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(w13) : "r"(wv));
    __asm__("sadd16 %0, %1, %2" : "=r"(x02) : "r"(x02), "r"(offset2));
    __asm__("sadd16 %0, %1, %2" : "=r"(x13) : "r"(x13), "r"(offset2));
    __asm__("smlad %0, %1, %2, %3" : "=r"(acc) : "r"(x02), "r"(w02), "r"(acc));
    __asm__("smlad %0, %1, %2, %3" : "=r"(acc) : "r"(x13), "r"(w13), "r"(acc));
  }
#endif
  for (; i < n; ++i) acc += ((int32_t)x[i] + x_offset) * (int32_t)w[i];
  return acc;
}

#endif /* AOTGEN_DOT_H */
