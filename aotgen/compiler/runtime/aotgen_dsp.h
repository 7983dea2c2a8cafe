/* What the int8 kernels share: the Arm DSP extension's instructions as C functions (inline
 * assembly on DSP cores, C models elsewhere: M0/M3/AVR/RV32/host and AOTGEN_DSP_EMULATE), the
 * decoding of the stored requantization tables, and the one requantize + zero point + clamp
 * epilogue of an int8 output.
 *
 * Every function is `static inline` and named aotgen_<name>; the emitter copies the ones a model
 * calls into its library renamed <prefix>_<name> (compiler/c_helpers.py). Standard headers only. */
#ifndef AOTGEN_DSP_H
#define AOTGEN_DSP_H

#include <stdbool.h>
#include <stdint.h>

#include "aotgen_fixedpoint.h"

/* SXTB16: bytes 0 and 2 of v as two sign-extended 16-bit lanes (ror8: bytes 1 and 3). */
static inline uint32_t aotgen_sxtb16(uint32_t v, int32_t ror8) {
  uint32_t r;
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP && defined(__GNUC__)
  if (ror8) __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(v));
  else __asm__("sxtb16 %0, %1" : "=r"(r) : "r"(v));
#else
  if (ror8) v = (v >> 8) | (v << 24);
  r = ((uint32_t)(uint16_t)(int16_t)(int8_t)(v & 0xFFu)) |
      ((uint32_t)(uint16_t)(int16_t)(int8_t)((v >> 16) & 0xFFu) << 16);
#endif
  return r;
}

/* SMLAD: acc + lo(a)*lo(b) + hi(a)*hi(b), 16-bit signed lanes. */
static inline int32_t aotgen_smlad(uint32_t a, uint32_t b, int32_t acc) {
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP && defined(__GNUC__)
  __asm__("smlad %0, %1, %2, %3" : "=r"(acc) : "r"(a), "r"(b), "r"(acc));
  return acc;
#else
  int32_t lo = (int32_t)(int16_t)(a & 0xFFFFu) * (int32_t)(int16_t)(b & 0xFFFFu);
  int32_t hi = (int32_t)(int16_t)(a >> 16) * (int32_t)(int16_t)(b >> 16);
  return (int32_t)((uint32_t)acc + (uint32_t)lo + (uint32_t)hi);
#endif
}

/* SMLABB (top 0) / SMLATT (top 1): acc + the bottom (top) 16-bit lanes of a and b multiplied. */
static inline int32_t aotgen_smla_lane(uint32_t a, uint32_t b, int32_t acc, int32_t top) {
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP && defined(__GNUC__)
  if (top) __asm__("smlatt %0, %1, %2, %3" : "=r"(acc) : "r"(a), "r"(b), "r"(acc));
  else __asm__("smlabb %0, %1, %2, %3" : "=r"(acc) : "r"(a), "r"(b), "r"(acc));
  return acc;
#else
  uint32_t la = top ? a >> 16 : a & 0xFFFFu, lb = top ? b >> 16 : b & 0xFFFFu;
  return (int32_t)((uint32_t)acc + (uint32_t)((int32_t)(int16_t)la * (int32_t)(int16_t)lb));
#endif
}

/* SADD16: two 16-bit lane additions (wrapping). */
static inline uint32_t aotgen_sadd16(uint32_t a, uint32_t b) {
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP && defined(__GNUC__)
  uint32_t r;
  __asm__("sadd16 %0, %1, %2" : "=r"(r) : "r"(a), "r"(b));
  return r;
#else
  return ((a + b) & 0xFFFFu) | (((a >> 16) + (b >> 16)) << 16);
#endif
}

/* SXTAB16: aotgen_sxtb16(v, ror8) added lane by lane to the two 16-bit lanes of a (wrapping): the
 * kernels widen their input and add its offset (a = aotgen_pair16(-zp)) in one instruction. */
static inline uint32_t aotgen_sxtab16(uint32_t a, uint32_t v, int32_t ror8) {
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP && defined(__GNUC__)
  uint32_t r;
  if (ror8) __asm__("sxtab16 %0, %1, %2, ror #8" : "=r"(r) : "r"(a), "r"(v));
  else __asm__("sxtab16 %0, %1, %2" : "=r"(r) : "r"(a), "r"(v));
  return r;
#else
  return aotgen_sadd16(a, aotgen_sxtb16(v, ror8));
#endif
}

/* v (a 16-bit value) in both 16-bit lanes of a word: the lane operand of aotgen_sadd16 and
 * aotgen_sxtab16. */
static inline uint32_t aotgen_pair16(int32_t v) {
  uint32_t lane = (uint32_t)(uint16_t)(int16_t)v;
  return lane | (lane << 16);
}

/* SMMUL (round 0) / SMMULR (round 1): the high word of a * b (+ 2^31), a and b signed. */
static inline int32_t aotgen_smmul(int32_t a, int32_t b, int32_t round) {
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP && defined(__GNUC__)
  int32_t r;
  if (round) __asm__("smmulr %0, %1, %2" : "=r"(r) : "r"(a), "r"(b));
  else __asm__("smmul %0, %1, %2" : "=r"(r) : "r"(a), "r"(b));
  return r;
#else
  bool neg = (a < 0) != (b < 0);
  uint32_t hi, lo;
  aotgen_umul64(a < 0 ? UINT32_C(0) - (uint32_t)a : (uint32_t)a, b < 0 ? UINT32_C(0) - (uint32_t)b : (uint32_t)b,
                &hi, &lo);
  if (neg) { /* two's complement of hi:lo */
    lo = ~lo + UINT32_C(1);
    hi = ~hi + (lo == UINT32_C(0));
  }
  if (round) hi += (lo + UINT32_C(0x80000000)) < lo;
  return (int32_t)hi;
#endif
}

/* A packed requantization word (quantized/params.py ChannelRequant "packed", conv_gemm.pack_requant):
 * bits 0..29 the multiplier's low bits (bit 30 implied), bits 30..31 the shift above shift_base. */
static inline void aotgen_unpack_requant(uint32_t word, int32_t shift_base, int32_t* multiplier, int32_t* shift) {
  *multiplier = (int32_t)((word & UINT32_C(0x3FFFFFFF)) | UINT32_C(0x40000000));
  *shift = (int32_t)(word >> 30) + shift_base;
}

/* A layer's per-channel requantization as the compiler stores it (quantized/params.py,
 * ChannelRequant): mode 0, one (m0, s0) for all channels; mode 1, one packed word per channel
 * (shifts above s0); mode 2, an int32 multiplier and an int8 shift per channel. */
static inline void aotgen_channel_requant(int32_t mode, const void* word_table, const void* shift_table, int32_t m0,
                                          int32_t s0, int32_t o, int32_t* multiplier, int32_t* shift) {
  const int32_t* words = (const int32_t*)word_table; /* tables a mode does not use: any pointer */
  const int8_t* shifts = (const int8_t*)shift_table;
  if (mode == 0) {
    *multiplier = m0;
    *shift = s0;
  } else if (mode == 1) {
    aotgen_unpack_requant((uint32_t)words[o], s0, multiplier, shift);
  } else {
    *multiplier = words[o];
    *shift = shifts[o];
  }
}

/* Channel c's (multiplier, shift) from a GEMM layer's table (conv_gemm.pack_requant): rq_step 0,
 * one packed word for every channel; 1, one packed word per channel (shifts above shift_base); 2,
 * int32 multipliers, then int8 shifts from word shift_base on. */
static inline void aotgen_gemm_requant(const int32_t* rq, int32_t rq_step, int32_t shift_base, int32_t c,
                                       int32_t* multiplier, int32_t* shift) {
  if (rq_step == 2) {
    *multiplier = rq[c];
    *shift = ((const int8_t*)(rq + shift_base))[c];
  } else {
    aotgen_unpack_requant((uint32_t)rq[c * rq_step], shift_base, multiplier, shift);
  }
}

/* Channel c's bias as the compiler stores it (conv_gemm.py compact_bias): int16
 * (bias_is_16) or int32. */
static inline int32_t aotgen_bias_at(const void* bias, int32_t bias_is_16, int32_t c) {
  return bias_is_16 ? (int32_t)((const int16_t*)bias)[c] : ((const int32_t*)bias)[c];
}

/* v clamped to the activation's bounds [act_min, act_max] within int8. On DSP cores SSAT clamps
 * to int8 in one instruction, and the bounds (compile-time constants in the C backend) are tested
 * only where they are tighter. */
static inline int8_t aotgen_clamp_s8(int32_t v, int32_t act_min, int32_t act_max) {
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP && defined(__GNUC__)
  __asm__("ssat %0, #8, %1" : "=r"(v) : "r"(v));
  if (act_min > -128) v = v < act_min ? act_min : v;
  if (act_max < 127) v = v > act_max ? act_max : v;
  return (int8_t)v;
#else
  v = v < act_min ? act_min : v;
  return (int8_t)(v > act_max ? act_max : v);
#endif
}

/* One int8 output: requantize (fast or general form), add the output zero point, clamp. */
static inline int8_t aotgen_out_s8(int32_t acc, int32_t multiplier, int32_t shift, int32_t fast, int32_t zp_out,
                                   int32_t act_min, int32_t act_max) {
  int32_t v = (fast ? aotgen_requantize_fast(acc, multiplier, shift) : aotgen_requantize(acc, multiplier, shift))
              + zp_out;
  return aotgen_clamp_s8(v, act_min, act_max);
}

/* SMMLAR: a + the high word of b * c + 2^31 (rounded), b and c signed. */
static inline int32_t aotgen_smmlar(int32_t b, int32_t c, int32_t a) {
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP && defined(__GNUC__)
  int32_t r;
  __asm__("smmlar %0, %1, %2, %3" : "=r"(r) : "r"(b), "r"(c), "r"(a));
  return r;
#else
  return (int32_t)((uint32_t)a + (uint32_t)aotgen_smmul(b, c, 1));
#endif
}

/* One int8 output by the fast exact requantization (aotgen_requantize_fast) for a right shift
 * e >= 2, from two per-channel constants: m2 = 2 * multiplier mod 2^32 (negative as int32) and
 * pow = 2^(32 - e). SMMULR(2 acc, m) is SMMLAR(acc, m2, acc) exactly: acc * 2^32 + acc * (2m -
 * 2^32) = 2 acc m (64-bit, |acc| < 2^30). RoundingDivideByPOT(v, e) = (v + (v >> 31) + 2^(e-1))
 * >> e is SMMULR(v + (v >> 31), pow) exactly (pow fits int32 for e >= 2), the output zero point
 * added by the same SMMLAR; then clamped (aotgen_clamp_s8). */
static inline int8_t aotgen_out_fast_s8(int32_t acc, int32_t m2, int32_t pow, int32_t zp_out, int32_t act_min,
                                        int32_t act_max) {
  int32_t v = aotgen_smmlar(acc, m2, acc);
  v = aotgen_smmlar(v + (v >> 31), pow, zp_out);
  return aotgen_clamp_s8(v, act_min, act_max);
}

#endif /* AOTGEN_DSP_H */
