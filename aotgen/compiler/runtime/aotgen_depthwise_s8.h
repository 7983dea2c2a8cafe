/* int8 depthwise convolution (depth multiplier 1, one image, NHWC) on DSP cores, on constants the
 * compiler prepares (conv_gemm.depthwise_constants): the weights of each group of 4 channels tap
 * after tap ([ch/4][kh*kw][4], so the loop reads them linearly), then those of the last ch % 4
 * channels ([kh*kw][ch % 4]); the biases (`bias_form`: 0 int32 with the input zero point folded in
 * at compile time, bias' = bias - zp_in * sum_t w[t][c]; 1 TFLite's int16 (they fit: half the
 * flash); 2 TFLite's int32 (folded they would not fit)); the GEMM's requantization table
 * (aotgen_gemm_requant, aotgen_dsp.h).
 *
 * Forms 1 and 2 are folded on every call into the kernel's arena scratch (kh * kw * ch / 4 SIMD
 * additions: subtracting the zero point per tap would cost the tap loop a register), so that the
 * tap loop multiplies the stored input bytes. The folded bias is exact when every tap outside the
 * image reads the input zero point: a window inside the image reads its taps at offsets fixed for
 * the layer from its first pixel; a window over the border gets its own offsets, an outside tap's
 * leading to `zp_row` (ch bytes of zp_in, after the folded biases in the scratch), so the tap loop
 * has no bounds tests. Four channels per step: one word of x and one of w per tap, SXTB16 widens
 * both, SMLABB/SMLATT accumulate each channel (a hand-scheduled loop: gcc's schedule spills the
 * accumulators), and the SMMULR epilogue where the layer's bound allows; the last ch % 4 channels
 * run as plain C, as does every channel on the host's plain path. Integer sums are exact in any
 * order. AOTGEN_DSP_EMULATE (tests only) runs the DSP path on the host with C models of the
 * instructions.
 *
 * Every function is `static inline` and named aotgen_<name>; the emitter copies the ones a model
 * calls into its library renamed <prefix>_<name> (compiler/c_helpers.py). Standard headers only. */
#ifndef AOTGEN_DEPTHWISE_S8_H
#define AOTGEN_DEPTHWISE_S8_H

#include <stdbool.h>
#include <stdint.h>

#include "aotgen_dsp.h"

/* The sums of channels c..c+3 over n taps: window `base` (an address: the window's first pixel,
 * plus c), tap t's word at base + off[t], weights w4 (4 per tap), plus the biases b[0..3]. */
static inline void aotgen_depthwise_dot4_s8(uintptr_t base, const int32_t* off, const int8_t* w4, int32_t n,
                                            const int32_t* b, int32_t* s) {
  int32_t a0, a1, a2, a3;
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP && defined(__GNUC__) && defined(__OPTIMIZE__)
  /* Per tap: 3 loads, 4 SXTB16, 4 SMLAxx; the loop runs 3 taps per pass where it can. */
#define AOTGEN_DW_TAP                           \
  "ldr %[p], [%[po]], #4\n\t"                   \
  "ldr %[p], [%[b], %[p]]\n\t"                  \
  "ldr %[wv], [%[pw]], #4\n\t"                  \
  "sxtb16 %[t0], %[p]\n\t"                      \
  "sxtb16 %[p], %[p], ror #8\n\t"               \
  "sxtb16 %[t1], %[wv]\n\t"                     \
  "sxtb16 %[wv], %[wv], ror #8\n\t"             \
  "smlabb %[a0], %[t0], %[t1], %[a0]\n\t"       \
  "smlatt %[a2], %[t0], %[t1], %[a2]\n\t"       \
  "smlabb %[a1], %[p], %[wv], %[a1]\n\t"        \
  "smlatt %[a3], %[p], %[wv], %[a3]\n\t"
  uint32_t p, wv, t0, t1;
  const int32_t* po = off;
  const int8_t* pw = w4;
  if (n % 3 == 0) {
    int32_t passes = n / 3;
    __asm__("ldrd %[a0], %[a1], [%[bp]]\n\t"
            "ldrd %[a2], %[a3], [%[bp], #8]\n"
            "1:\n\t" AOTGEN_DW_TAP AOTGEN_DW_TAP AOTGEN_DW_TAP
            "subs %[n], %[n], #1\n\t"
            "bne 1b"
            : [a0] "=&r"(a0), [a1] "=&r"(a1), [a2] "=&r"(a2), [a3] "=&r"(a3), [po] "+r"(po), [pw] "+r"(pw),
              [n] "+r"(passes), [p] "=&r"(p), [wv] "=&r"(wv), [t0] "=&r"(t0), [t1] "=&r"(t1)
            : [b] "r"(base), [bp] "r"(b)
            : "cc", "memory");
  } else {
    __asm__("ldrd %[a0], %[a1], [%[bp]]\n\t"
            "ldrd %[a2], %[a3], [%[bp], #8]\n"
            "1:\n\t" AOTGEN_DW_TAP
            "subs %[n], %[n], #1\n\t"
            "bne 1b"
            : [a0] "=&r"(a0), [a1] "=&r"(a1), [a2] "=&r"(a2), [a3] "=&r"(a3), [po] "+r"(po), [pw] "+r"(pw),
              [n] "+r"(n), [p] "=&r"(p), [wv] "=&r"(wv), [t0] "=&r"(t0), [t1] "=&r"(t1)
            : [b] "r"(base), [bp] "r"(b)
            : "cc", "memory");
  }
#undef AOTGEN_DW_TAP
#else
  a0 = b[0], a1 = b[1], a2 = b[2], a3 = b[3];
  for (int32_t t = 0; t < n; ++t) {
    uint32_t xv, wv;
    __builtin_memcpy(&xv, (const int8_t*)(base + (uintptr_t)(intptr_t)off[t]), 4);
    __builtin_memcpy(&wv, w4 + 4 * t, 4);
    uint32_t x02 = aotgen_sxtb16(xv, 0), x13 = aotgen_sxtb16(xv, 1);
    uint32_t w02 = aotgen_sxtb16(wv, 0), w13 = aotgen_sxtb16(wv, 1);
    a0 = aotgen_smla_lane(x02, w02, a0, 0);
    a2 = aotgen_smla_lane(x02, w02, a2, 1);
    a1 = aotgen_smla_lane(x13, w13, a1, 0);
    a3 = aotgen_smla_lane(x13, w13, a3, 1);
  }
#endif
  s[0] = a0;
  s[1] = a1;
  s[2] = a2;
  s[3] = a3;
}

/* folded[c] = bias[c] - zp_in * sum_t w[t][c] for every channel (weights in the kernel's layout),
 * in wrapping 32-bit arithmetic: the sums the tap loop adds to it end where TFLite's do. A group
 * of 4 channels sums its taps' words in two 16-bit lane pairs (|sum| <= 25 * 127). */
static inline void aotgen_depthwise_fold_s8(const int8_t* w, int32_t ch, int32_t n_taps, const void* bias,
                                            int32_t bias_is_16, int32_t zp_in, int32_t* folded) {
  int32_t c4 = ch & ~3, c = 0;
  for (; c < c4; c += 4, w += 4 * n_taps) {
    uint32_t s02 = 0, s13 = 0;
    for (int32_t t = 0; t < n_taps; ++t) {
      uint32_t v;
      __builtin_memcpy(&v, w + 4 * t, 4);
      s02 = aotgen_sxtab16(s02, v, 0);
      s13 = aotgen_sxtab16(s13, v, 1);
    }
    int32_t sums[4] = {(int16_t)(s02 & 0xFFFFu), (int16_t)(s13 & 0xFFFFu), (int16_t)(s02 >> 16),
                       (int16_t)(s13 >> 16)};
    for (int32_t j = 0; j < 4; ++j) {
      folded[c + j] = (int32_t)((uint32_t)aotgen_bias_at(bias, bias_is_16, c + j) - (uint32_t)(zp_in * sums[j]));
    }
  }
  for (; c < ch; ++c) { /* the last ch % 4 channels: [kh*kw][ch % 4] */
    int32_t sum = 0;
    for (int32_t t = 0; t < n_taps; ++t) sum += w[t * (ch - c4) + (c - c4)];
    folded[c] = (int32_t)((uint32_t)aotgen_bias_at(bias, bias_is_16, c) - (uint32_t)(zp_in * sum));
  }
}

/* Output pixel (oy, ox)'s window: its first pixel's address (which may lie outside the image) and
 * its tap offsets, `inner` (the layer's) when the window lies inside the image, else written into
 * `edge`, an outside tap's offset leading to zp_row. */
static inline const int32_t* aotgen_depthwise_window(const int8_t* x, int32_t in_h, int32_t in_w, int32_t ch, int32_t kh,
                                                     int32_t kw, int32_t dil_h, int32_t dil_w, int32_t iy0,
                                                     int32_t ix0, const int32_t* inner, int32_t* edge,
                                                     const int8_t* zp_row, uintptr_t* base) {
  *base = (uintptr_t)x + (uintptr_t)(intptr_t)((iy0 * in_w + ix0) * ch);
  if (iy0 >= 0 && iy0 + (kh - 1) * dil_h < in_h && ix0 >= 0 && ix0 + (kw - 1) * dil_w < in_w) return inner;
  int32_t to_zp = (int32_t)((uintptr_t)zp_row - *base);
  for (int32_t i = 0, t = 0; i < kh; ++i) {
    int32_t iy = iy0 + i * dil_h;
    for (int32_t j = 0; j < kw; ++j, ++t) {
      int32_t ix = ix0 + j * dil_w;
      edge[t] = iy >= 0 && iy < in_h && ix >= 0 && ix < in_w ? inner[t] : to_zp;
    }
  }
  return edge;
}

/* y = depthwise(x): in_h x in_w x ch in, out_h x out_w x ch out, kh x kw window with strides,
 * dilations and top/left padding; requantized with the GEMM's table and epilogue. Two output
 * pixels (consecutive in raster order) per step share each channel group's requantization
 * parameters (a last odd pixel is computed twice and stored once). `scratch`: 5 * ch bytes of
 * arena (the folded biases of forms 1 and 2, then zp_row; conv_gemm.depthwise_scratch_bytes). */
static inline int32_t aotgen_depthwise_s8(const int8_t* x, int32_t in_h, int32_t in_w, int32_t ch, int32_t kh,
                                          int32_t kw, int32_t stride_h, int32_t stride_w, int32_t dil_h,
                                          int32_t dil_w, int32_t pad_t, int32_t pad_l, int32_t out_h, int32_t out_w,
                                          int32_t zp_in, const int8_t* w, const void* stored_bias,
                                          int32_t bias_form, const int32_t* rq, int32_t rq_step, int32_t shift_base,
                                          int32_t fast, int32_t zp_out, int32_t act_min, int32_t act_max, int8_t* y,
                                          int8_t* scratch) {
  int32_t inner[25], edge0[25], edge1[25]; /* at most 5x5 taps: larger windows keep the general kernel */
  int32_t n_taps = kh * kw, c4 = ch & ~3;
  const int32_t* bias = (const int32_t*)stored_bias;
  int8_t* zp_row = scratch;
  if (bias_form) {
    int32_t* folded = (int32_t*)(void*)scratch; /* the arena places scratch 16-byte aligned */
    aotgen_depthwise_fold_s8(w, ch, n_taps, stored_bias, bias_form == 1, zp_in, folded);
    bias = folded;
    zp_row = scratch + 4 * ch;
  }
  for (int32_t c = 0; c < ch; ++c) zp_row[c] = (int8_t)zp_in;
  for (int32_t i = 0, t = 0; i < kh; ++i) {
    for (int32_t j = 0; j < kw; ++j, ++t) inner[t] = (i * dil_h * in_w + j * dil_w) * ch;
  }
  int32_t n = out_h * out_w;
  for (int32_t p = 0, oy = 0, ox = 0; p < n; p += 2) { /* pixels p and p + 1 in raster order */
    int32_t two = p + 1 < n;
    int32_t oy1 = oy, ox1 = ox + two;
    if (ox1 == out_w) oy1 += 1, ox1 = 0;
    uintptr_t base0, base1;
    const int32_t* off0 = aotgen_depthwise_window(x, in_h, in_w, ch, kh, kw, dil_h, dil_w, oy * stride_h - pad_t,
                                                  ox * stride_w - pad_l, inner, edge0, zp_row, &base0);
    const int32_t* off1 = aotgen_depthwise_window(x, in_h, in_w, ch, kh, kw, dil_h, dil_w, oy1 * stride_h - pad_t,
                                                  ox1 * stride_w - pad_l, inner, edge1, zp_row, &base1);
    oy = oy1, ox = ox1 + 1;
    if (ox == out_w) oy += 1, ox = 0;
    {
      int8_t* out0 = y + p * ch;
      int8_t* out1 = out0 + two * ch;
      int32_t c = 0;
#if (defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP && defined(__GNUC__)) || defined(AOTGEN_DSP_EMULATE)
      for (const int8_t* w4 = w; c < c4; c += 4, w4 += 4 * n_taps) {
        int32_t s[4], t[4];
        aotgen_depthwise_dot4_s8(base0 + (uintptr_t)c, off0, w4, n_taps, bias + c, s);
        aotgen_depthwise_dot4_s8(base1 + (uintptr_t)c, off1, w4, n_taps, bias + c, t);
        int32_t m0, m1, m2, m3, sh0, sh1, sh2, sh3; /* (unrolled by hand: a loop over s[k] spills s) */
        aotgen_gemm_requant(rq, rq_step, shift_base, c, &m0, &sh0);
        aotgen_gemm_requant(rq, rq_step, shift_base, c + 1, &m1, &sh1);
        aotgen_gemm_requant(rq, rq_step, shift_base, c + 2, &m2, &sh2);
        aotgen_gemm_requant(rq, rq_step, shift_base, c + 3, &m3, &sh3);
        int32_t normalized = (int32_t)((uint32_t)(m0 & m1 & m2 & m3) << 1); /* < 0: every m >= 2^30 */
        if (fast == 2 || (fast && ((sh0 + 1) & (sh1 + 1) & (sh2 + 1) & (sh3 + 1) & normalized) < 0)) {
          int32_t p0 = (int32_t)(UINT32_C(1) << (32 + sh0)), p1 = (int32_t)(UINT32_C(1) << (32 + sh1));
          int32_t p2 = (int32_t)(UINT32_C(1) << (32 + sh2)), p3 = (int32_t)(UINT32_C(1) << (32 + sh3));
          m0 = (int32_t)((uint32_t)m0 << 1), m1 = (int32_t)((uint32_t)m1 << 1); /* aotgen_out_fast_s8's m2 */
          m2 = (int32_t)((uint32_t)m2 << 1), m3 = (int32_t)((uint32_t)m3 << 1);
          out1[c] = aotgen_out_fast_s8(t[0], m0, p0, zp_out, act_min, act_max);
          out1[c + 1] = aotgen_out_fast_s8(t[1], m1, p1, zp_out, act_min, act_max);
          out1[c + 2] = aotgen_out_fast_s8(t[2], m2, p2, zp_out, act_min, act_max);
          out1[c + 3] = aotgen_out_fast_s8(t[3], m3, p3, zp_out, act_min, act_max);
          out0[c] = aotgen_out_fast_s8(s[0], m0, p0, zp_out, act_min, act_max);
          out0[c + 1] = aotgen_out_fast_s8(s[1], m1, p1, zp_out, act_min, act_max);
          out0[c + 2] = aotgen_out_fast_s8(s[2], m2, p2, zp_out, act_min, act_max);
          out0[c + 3] = aotgen_out_fast_s8(s[3], m3, p3, zp_out, act_min, act_max);
        } else {
          out1[c] = aotgen_out_s8(t[0], m0, sh0, fast, zp_out, act_min, act_max);
          out1[c + 1] = aotgen_out_s8(t[1], m1, sh1, fast, zp_out, act_min, act_max);
          out1[c + 2] = aotgen_out_s8(t[2], m2, sh2, fast, zp_out, act_min, act_max);
          out1[c + 3] = aotgen_out_s8(t[3], m3, sh3, fast, zp_out, act_min, act_max);
          out0[c] = aotgen_out_s8(s[0], m0, sh0, fast, zp_out, act_min, act_max);
          out0[c + 1] = aotgen_out_s8(s[1], m1, sh1, fast, zp_out, act_min, act_max);
          out0[c + 2] = aotgen_out_s8(s[2], m2, sh2, fast, zp_out, act_min, act_max);
          out0[c + 3] = aotgen_out_s8(s[3], m3, sh3, fast, zp_out, act_min, act_max);
        }
      }
#endif
      for (; c < ch; ++c) { /* plain C: weights of channel c at wc[t * step] */
        const int8_t* wc = c < c4 ? w + (c >> 2) * 4 * n_taps + (c & 3) : w + c4 * n_taps + (c - c4);
        int32_t step = c < c4 ? 4 : ch - c4;
        int32_t acc0 = bias[c], acc1 = bias[c];
        for (int32_t t = 0; t < n_taps; ++t) {
          acc0 += (int32_t)*(const int8_t*)(base0 + (uintptr_t)(intptr_t)off0[t] + (uintptr_t)c) * wc[t * step];
          acc1 += (int32_t)*(const int8_t*)(base1 + (uintptr_t)(intptr_t)off1[t] + (uintptr_t)c) * wc[t * step];
        }
        int32_t m, sh;
        aotgen_gemm_requant(rq, rq_step, shift_base, c, &m, &sh);
        out1[c] = aotgen_out_s8(acc1, m, sh, fast, zp_out, act_min, act_max);
        out0[c] = aotgen_out_s8(acc0, m, sh, fast, zp_out, act_min, act_max);
      }
    }
  }
  return 0;
}

#endif /* AOTGEN_DEPTHWISE_S8_H */
