/* int8 FULLY_CONNECTED (TFLite's reference kernel, which LiteRT runs with single rounding):
 *
 * y[b][o] = clamp(zp_out + requantize_single(bias[o] + sum_k (x[b][k] - zp_in) * w[o][k]), lo, hi)
 *
 * on the bias and requantization tables as the compiler stores them (quantized/params.py), and
 * the weights in the order compiler/quantized/fc_call.py gives them (the same bytes, no extra flash):
 * rows in blocks of 4, each block as 16-byte groups (4 bytes of each of its 4 rows, K/4 groups)
 * then the 4 rows' last K%4 bytes; the last n_out%4 rows as they are.
 *
 * On DSP cores (with `scratch`, widen=1) each input row is widened once to int16 with the input
 * offset already added (SXTB16 order: lanes x0,x2 then x1,x3), so every weight word is loaded
 * once, widened by 2 SXTB16 and multiplied by 2 SMLAD, 4 rows per pass. Elsewhere
 * (M0/M3/AVR/RV32/host) the same blocking runs in plain C. Integer sums are exact in any order.
 * `fast` (compile time, compiler/conv_gemm.fast_requantize_holds: every shift <= 0 and
 * |acc + bias| < 2^30) selects the SMMUL requantization, exact there; AOTGEN_DSP_EMULATE (tests
 * only) runs the DSP path on the host with C models of the instructions.
 *
 * Every function is `static inline` and named aotgen_<name>; the emitter copies the ones a model
 * calls into its library renamed <prefix>_<name> (compiler/c_helpers.py). Standard headers only. */
#ifndef AOTGEN_FC_S8_H
#define AOTGEN_FC_S8_H

#include <stdbool.h>
#include <stdint.h>

#include "aotgen_dsp.h"

/* aotgen_requantize_single for shift <= 0 and |acc| < 2^30. With P = acc * m and e = -shift,
 * the result floor((P + 2^(30+e)) / 2^(31+e)) is SMMULR(2 acc, m) for e = 0 and, for e > 0,
 * (floor(P / 2^31) + 2^(e-1)) >> e (the dropped low bits cannot carry past 2^e), where
 * floor(P / 2^31) = SMMUL(2 acc, m). Without the DSP extension: the general form. */
static inline int32_t aotgen_requantize_single_fast(int32_t acc, int32_t multiplier, int32_t shift) {
#if (defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP && defined(__GNUC__)) || defined(AOTGEN_DSP_EMULATE)
  int32_t e = -shift;
  if (e == 0) return aotgen_smmul(acc * 2, multiplier, 1);
  return (aotgen_smmul(acc * 2, multiplier, 0) + (int32_t)(UINT32_C(1) << (e - 1))) >> e;
#else
  return aotgen_requantize_single(acc, multiplier, shift);
#endif
}

/* Output o of a row: its stored bias and requantization, the output zero point, the clamp. */
static inline int8_t aotgen_fc_out_s8(int32_t acc, const void* bias, int32_t bias_is_16, int32_t rq_mode,
                                      const void* rq_words, const void* rq_shifts, int32_t rq_m0, int32_t rq_s0,
                                      int32_t fast, int32_t zp_out, int32_t lo, int32_t hi, int32_t o) {
  int32_t m, s;
  aotgen_channel_requant(rq_mode, rq_words, rq_shifts, rq_m0, rq_s0, o, &m, &s);
  acc += aotgen_bias_at(bias, bias_is_16, o);
  int32_t v = (fast ? aotgen_requantize_single_fast(acc, m, s) : aotgen_requantize_single(acc, m, s)) + zp_out;
  v = v < lo ? lo : v;
  return (int8_t)(v > hi ? hi : v);
}

/* xw[.] = x[.] + offset as int16, for k inputs: k/4 pairs of words in SXTB16 order (lanes
 * x0,x2 and x1,x3 of each 4 bytes), then the last k%4 values in order. */
static inline void aotgen_fc_widen_s8(const int8_t* x, int32_t k, int32_t offset, uint32_t* xw) {
  const uint32_t offset2 = aotgen_pair16(offset);
  int32_t i = 0;
  for (; i + 4 <= k; i += 4) {
    uint32_t v;
    __builtin_memcpy(&v, x + i, 4);
    xw[i / 2] = aotgen_sxtab16(offset2, v, 0);
    xw[i / 2 + 1] = aotgen_sxtab16(offset2, v, 1);
  }
  int16_t* tail = (int16_t*)(xw + i / 2);
  for (int32_t j = 0; i + j < k; ++j) tail[j] = (int16_t)(x[i + j] + offset);
}

/* The 4 sums of one block of 4 rows (layout above) with one input row; `xw`: the widened row
 * (DSP path) or NULL (plain C, reading x). */
static inline void aotgen_fc_block4_s8(const int8_t* x, const uint32_t* xw, int32_t k, int32_t offset,
                                       const int8_t* wb, int32_t* s) {
  int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
  const int32_t k4 = k & ~3;
  const int8_t* wp = wb;
#if (defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP && defined(__GNUC__)) || defined(AOTGEN_DSP_EMULATE)
  if (xw) {
    const uint32_t* xp = xw;
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP && defined(__GNUC__)
    /* One group: 1 LDRD, then per row LDR (post-increment), 2 SXTB16, 2 SMLAD; written out so
     * that no compiler spills a register in it (gcc does: 26 instructions instead of 23). */
    for (int32_t g = k4 / 4; g > 0; --g) {
      uint32_t x02, x13, wv, lo16, hi16;
      __asm__("ldrd %[x02], %[x13], [%[xp]], #8\n\t"
              "ldr %[wv], [%[wp]], #4\n\t"
              "sxtb16 %[lo], %[wv]\n\tsxtb16 %[hi], %[wv], ror #8\n\t"
              "smlad %[a0], %[x02], %[lo], %[a0]\n\tsmlad %[a0], %[x13], %[hi], %[a0]\n\t"
              "ldr %[wv], [%[wp]], #4\n\t"
              "sxtb16 %[lo], %[wv]\n\tsxtb16 %[hi], %[wv], ror #8\n\t"
              "smlad %[a1], %[x02], %[lo], %[a1]\n\tsmlad %[a1], %[x13], %[hi], %[a1]\n\t"
              "ldr %[wv], [%[wp]], #4\n\t"
              "sxtb16 %[lo], %[wv]\n\tsxtb16 %[hi], %[wv], ror #8\n\t"
              "smlad %[a2], %[x02], %[lo], %[a2]\n\tsmlad %[a2], %[x13], %[hi], %[a2]\n\t"
              "ldr %[wv], [%[wp]], #4\n\t"
              "sxtb16 %[lo], %[wv]\n\tsxtb16 %[hi], %[wv], ror #8\n\t"
              "smlad %[a3], %[x02], %[lo], %[a3]\n\tsmlad %[a3], %[x13], %[hi], %[a3]"
              : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [xp] "+r"(xp), [wp] "+r"(wp),
                [x02] "=&r"(x02), [x13] "=&r"(x13), [wv] "=&r"(wv), [lo] "=&r"(lo16), [hi] "=&r"(hi16)
              :
              : "memory");
    }
#else
    for (const int8_t* end = wb + 4 * k4; wp < end; wp += 16, xp += 2) {
      uint32_t w0, w1, w2, w3;
      const uint32_t x02 = xp[0], x13 = xp[1];
      __builtin_memcpy(&w0, wp, 4);
      __builtin_memcpy(&w1, wp + 4, 4);
      __builtin_memcpy(&w2, wp + 8, 4);
      __builtin_memcpy(&w3, wp + 12, 4);
      a0 = aotgen_smlad(x13, aotgen_sxtb16(w0, 1), aotgen_smlad(x02, aotgen_sxtb16(w0, 0), a0));
      a1 = aotgen_smlad(x13, aotgen_sxtb16(w1, 1), aotgen_smlad(x02, aotgen_sxtb16(w1, 0), a1));
      a2 = aotgen_smlad(x13, aotgen_sxtb16(w2, 1), aotgen_smlad(x02, aotgen_sxtb16(w2, 0), a2));
      a3 = aotgen_smlad(x13, aotgen_sxtb16(w3, 1), aotgen_smlad(x02, aotgen_sxtb16(w3, 0), a3));
    }
#endif
    const int16_t* xt = (const int16_t*)xp;
    for (int32_t j = 0; j < k - k4; ++j) {
      a0 += xt[j] * wp[j];
      a1 += xt[j] * wp[(k - k4) + j];
      a2 += xt[j] * wp[2 * (k - k4) + j];
      a3 += xt[j] * wp[3 * (k - k4) + j];
    }
    s[0] = a0, s[1] = a1, s[2] = a2, s[3] = a3;
    return;
  }
#endif
  (void)xw;
  for (int32_t i = 0; i < k4; i += 4, wp += 16) {
    for (int32_t j = 0; j < 4; ++j) {
      const int32_t v = x[i + j] + offset;
      a0 += v * wp[j];
      a1 += v * wp[4 + j];
      a2 += v * wp[8 + j];
      a3 += v * wp[12 + j];
    }
  }
  for (int32_t j = 0; j < k - k4; ++j) {
    const int32_t v = x[k4 + j] + offset;
    a0 += v * wp[j];
    a1 += v * wp[(k - k4) + j];
    a2 += v * wp[2 * (k - k4) + j];
    a3 += v * wp[3 * (k - k4) + j];
  }
  s[0] = a0, s[1] = a1, s[2] = a2, s[3] = a3;
}

/* The sum of one plain row w[0..k) with one input row (widened `xw`, or x when NULL). */
static inline int32_t aotgen_fc_row_s8(const int8_t* x, const uint32_t* xw, int32_t k, int32_t offset,
                                       const int8_t* w) {
  int32_t acc = 0, i = 0;
#if (defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP && defined(__GNUC__)) || defined(AOTGEN_DSP_EMULATE)
  if (xw) {
    for (; i + 4 <= k; i += 4) {
      uint32_t wv;
      __builtin_memcpy(&wv, w + i, 4);
      acc = aotgen_smlad(xw[i / 2 + 1], aotgen_sxtb16(wv, 1), aotgen_smlad(xw[i / 2], aotgen_sxtb16(wv, 0), acc));
    }
    const int16_t* xt = (const int16_t*)(xw + i / 2);
    for (int32_t j = 0; i + j < k; ++j) acc += xt[j] * w[i + j];
    return acc;
  }
#endif
  (void)xw;
  for (; i < k; ++i) acc += (x[i] + offset) * w[i];
  return acc;
}

/* The whole layer: `batches` input rows of k bytes, n_out outputs each. `scratch` holds one
 * widened row ((k + 1) / 2 words, planned in the arena) when `widen` is set (DSP cores; any
 * pointer otherwise). The requantization tables: aotgen_channel_requant's modes. */
static inline void aotgen_fc_s8(const int8_t* x, int32_t batches, int32_t k, const int8_t* w, int32_t n_out,
                                const void* bias, int32_t bias_is_16, int32_t rq_mode, const void* rq_words,
                                const void* rq_shifts, int32_t rq_m0, int32_t rq_s0, int32_t fast, int32_t zp_in,
                                int32_t zp_out, int32_t lo, int32_t hi, int8_t* y, void* scratch, int32_t widen) {
  const int32_t offset = -zp_in, blocks = n_out / 4;
  for (int32_t b = 0; b < batches; ++b, x += k, y += n_out) {
    const uint32_t* xw = 0;
#if (defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP && defined(__GNUC__)) || defined(AOTGEN_DSP_EMULATE)
    if (widen) {
      aotgen_fc_widen_s8(x, k, offset, (uint32_t*)scratch);
      xw = (const uint32_t*)scratch;
    }
#else
    (void)scratch, (void)widen;
#endif
    for (int32_t blk = 0; blk < blocks; ++blk) {
      int32_t s[4];
      aotgen_fc_block4_s8(x, xw, k, offset, w + blk * 4 * k, s);
      for (int32_t r = 0; r < 4; ++r)
        y[4 * blk + r] = aotgen_fc_out_s8(s[r], bias, bias_is_16, rq_mode, rq_words, rq_shifts, rq_m0, rq_s0, fast,
                                          zp_out, lo, hi, 4 * blk + r);
    }
    for (int32_t o = 4 * blocks; o < n_out; ++o)
      y[o] = aotgen_fc_out_s8(aotgen_fc_row_s8(x, xw, k, offset, w + o * k), bias, bias_is_16, rq_mode, rq_words,
                              rq_shifts, rq_m0, rq_s0, fast, zp_out, lo, hi, o);
  }
}

#endif /* AOTGEN_FC_S8_H */
