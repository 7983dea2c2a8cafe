/* int8 convolution micro-kernels (CMSIS-NN's shapes, on aotgen's stored constants: weights,
 * biases and requantization tables as the compiler keeps them, no extra flash).
 *
 * The input zero point is folded into each channel's bias once (bias - zp_in * sum(w)), so the
 * inner loops multiply the stored bytes as they are; requantization is TFLite's
 * (aotgen_requantize), then the output zero point and the activation's clamp. Every kernel has a
 * plain-C path (any core, the host) and, where the Arm DSP extension exists (Cortex-M4/M7/M33/
 * M55, GNU C), a register-blocked SMLAD path; integer sums are exact in any order, so both give
 * the same bytes. */
#ifndef AOTGEN_CONV_S8_H
#define AOTGEN_CONV_S8_H

#include <stdbool.h>
#include <stdint.h>
#include "aotgen_dsp.h"

/* Channel o's bias (int16 or int32, as stored) minus zp_in * sum(w[o]): the input zero point
 * folded once per channel, so the loops multiply the stored input bytes as they are. */
static inline int32_t aotgen_folded_bias(const void* bias, int32_t bias_is_16, int32_t o, const int8_t* w_row,
                                         int32_t cin, int32_t zp_in) {
  int32_t sum = 0;
  for (int32_t c = 0; c < cin; ++c) sum += w_row[c];
  return aotgen_bias_at(bias, bias_is_16, o) - zp_in * sum;
}

/* One output: TFLite's requantization of acc, the output zero point, the activation's range. */
static inline int8_t aotgen_output_s8(int32_t acc, int32_t multiplier, int32_t shift, int32_t zp_out, int32_t lo,
                                      int32_t hi) {
  /* The fast form is exact for |acc| < 2^30 and right shifts (aotgen_fixedpoint.h). */
  int32_t fast = shift <= 0 && acc > -(INT32_C(1) << 30) && acc < (INT32_C(1) << 30);
  int32_t v = fast ? aotgen_requantize_fast(acc, multiplier, shift) : aotgen_requantize(acc, multiplier, shift);
  v += zp_out;
  return (int8_t)(v < lo ? lo : (v > hi ? hi : v));
}

/* Output channel o of the pointwise convolution below. */
static inline void aotgen_conv1x1_channel_s8(const int8_t* x, const int8_t* w, const void* bias, int32_t bias_is_16,
                                             int32_t rq_mode, const void* rq_words, const void* rq_shifts,
                                             int32_t rq_m0, int32_t rq_s0, int8_t* y, int32_t pixels, int32_t cin,
                                             int32_t cout, int32_t zp_in, int32_t zp_out, int32_t lo, int32_t hi,
                                             int32_t o) {
  const int8_t* w0 = w + o * cin;
  const int32_t b0 = aotgen_folded_bias(bias, bias_is_16, o, w0, cin, zp_in);
  int32_t m0, s0;
  aotgen_channel_requant(rq_mode, rq_words, rq_shifts, rq_m0, rq_s0, o, &m0, &s0);
  for (int32_t p = 0; p < pixels; ++p) {
    const int8_t* x0 = x + p * cin;
    int32_t acc = b0;
    for (int32_t c = 0; c < cin; ++c) acc += (int32_t)x0[c] * w0[c];
    y[p * cout + o] = aotgen_output_s8(acc, m0, s0, zp_out, lo, hi);
  }
}

/* Pointwise (1x1, stride 1) convolution in plain C, for cores without the DSP extension (those
 * with it run every convolution through runtime/aotgen_conv_gemm_s8.h):
 * y[p][o] = requant(bias[o] + sum_c (x[p][c] - zp_in) * w[o][c]) for `pixels` rows of `cin` input
 * channels (NHWC) and `cout` output channels (w: OHWI, one row of cin bytes per output channel). */
static inline int32_t aotgen_conv1x1_s8(const int8_t* x, const int8_t* w, const void* bias, int32_t bias_is_16,
                                        int32_t rq_mode, const void* rq_words, const void* rq_shifts,
                                        int32_t rq_m0, int32_t rq_s0, int8_t* y, int32_t pixels, int32_t cin,
                                        int32_t cout, int32_t zp_in, int32_t zp_out, int32_t lo, int32_t hi) {
  for (int32_t o = 0; o < cout; ++o) {
    aotgen_conv1x1_channel_s8(x, w, bias, bias_is_16, rq_mode, rq_words, rq_shifts, rq_m0, rq_s0, y, pixels, cin, cout,
                              zp_in, zp_out, lo, hi, o);
  }
  return 0;
}

/* Channel c of one depthwise output pixel, in plain C: the taps inside the image
 * (ky_lo..ky_hi, kx_lo..kx_hi, from the pixel's corner y0, x0). */
static inline int8_t aotgen_dw_channel_s8(const int8_t* x, const int8_t* w, const void* bias, int32_t bias_is_16,
                                          int32_t rq_mode, const void* rq_words, const void* rq_shifts, int32_t rq_m0,
                                          int32_t rq_s0, int32_t in_w, int32_t ch, int32_t k_w, int32_t dil_h,
                                          int32_t dil_w, int32_t y0, int32_t x0, int32_t ky_lo, int32_t ky_hi,
                                          int32_t kx_lo, int32_t kx_hi, int32_t zp_in, int32_t zp_out, int32_t lo,
                                          int32_t hi, int32_t c) {
  int32_t acc = aotgen_bias_at(bias, bias_is_16, c);
  for (int32_t ky = ky_lo; ky < ky_hi; ++ky) {
    for (int32_t kx = kx_lo; kx < kx_hi; ++kx) {
      int32_t xi = ((y0 + ky * dil_h) * in_w + (x0 + kx * dil_w)) * ch + c;
      acc += ((int32_t)x[xi] - zp_in) * w[(ky * k_w + kx) * ch + c];
    }
  }
  int32_t m, s;
  aotgen_channel_requant(rq_mode, rq_words, rq_shifts, rq_m0, rq_s0, c, &m, &s);
  return aotgen_output_s8(acc, m, s, zp_out, lo, hi);
}

/* Depthwise convolution (depth multiplier 1), NHWC, weights 1HWC: for each output pixel and
 * channel, the sum over the taps inside the image of (x - zp_in) * w (padding taps contribute
 * nothing, as in TFLite); then the bias and the requantization. On DSP cores, 4 channels per step:
 * SXTB16 widens 2 bytes at once, SADD16 adds the input offset to both, SMLABB/SMLATT accumulate
 * each channel separately. */
static inline int32_t aotgen_dwconv_s8(const int8_t* x, const int8_t* w, const void* bias, int32_t bias_is_16,
                                       int32_t rq_mode, const void* rq_words, const void* rq_shifts, int32_t rq_m0,
                                       int32_t rq_s0, int8_t* y, int32_t in_h, int32_t in_w, int32_t ch,
                                       int32_t k_h, int32_t k_w, int32_t stride_h, int32_t stride_w,
                                       int32_t dil_h, int32_t dil_w, int32_t pad_top, int32_t pad_left,
                                       int32_t out_h, int32_t out_w, int32_t zp_in, int32_t zp_out, int32_t lo,
                                       int32_t hi) {
  for (int32_t oy = 0; oy < out_h; ++oy) {
    for (int32_t ox = 0; ox < out_w; ++ox) {
      const int32_t y0 = oy * stride_h - pad_top, x0 = ox * stride_w - pad_left;
      /* the taps inside the image, once per pixel */
      int32_t ky_lo = 0, ky_hi = k_h, kx_lo = 0, kx_hi = k_w;
      while (ky_lo < k_h && y0 + ky_lo * dil_h < 0) ++ky_lo;
      while (ky_hi > ky_lo && y0 + (ky_hi - 1) * dil_h >= in_h) --ky_hi;
      while (kx_lo < k_w && x0 + kx_lo * dil_w < 0) ++kx_lo;
      while (kx_hi > kx_lo && x0 + (kx_hi - 1) * dil_w >= in_w) --kx_hi;
      int8_t* out = y + (oy * out_w + ox) * ch;
      int32_t c = 0;
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP && defined(__GNUC__)
      const uint32_t offset2 = aotgen_pair16(-zp_in);
      for (; c + 4 <= ch; c += 4) {
        int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
        for (int32_t ky = ky_lo; ky < ky_hi; ++ky) {
          const int8_t* xrow = x + ((y0 + ky * dil_h) * in_w) * ch + c;
          const int8_t* wrow = w + (ky * k_w) * ch + c;
          for (int32_t kx = kx_lo; kx < kx_hi; ++kx) {
            uint32_t xv, wv, x02, x13, w02, w13;
            __builtin_memcpy(&xv, xrow + (x0 + kx * dil_w) * ch, 4);
            __builtin_memcpy(&wv, wrow + kx * ch, 4);
            x02 = aotgen_sxtab16(offset2, xv, 0);
            x13 = aotgen_sxtab16(offset2, xv, 1);
            w02 = aotgen_sxtb16(wv, 0);
            w13 = aotgen_sxtb16(wv, 1);
            a0 = aotgen_smla_lane(x02, w02, a0, 0);
            a2 = aotgen_smla_lane(x02, w02, a2, 1);
            a1 = aotgen_smla_lane(x13, w13, a1, 0);
            a3 = aotgen_smla_lane(x13, w13, a3, 1);
          }
        }
        int32_t acc[4] = {a0, a1, a2, a3};
        for (int32_t k = 0; k < 4; ++k) {
          int32_t m, s;
          aotgen_channel_requant(rq_mode, rq_words, rq_shifts, rq_m0, rq_s0, c + k, &m, &s);
          int32_t b = aotgen_bias_at(bias, bias_is_16, c + k);
          out[c + k] = aotgen_output_s8(acc[k] + b, m, s, zp_out, lo, hi);
        }
      }
      for (int32_t k = 0; k < 3; ++k) { /* the last ch % 4 channels (a bounded loop: gcc cannot bound c) */
        if (c + k < ch) {
          out[c + k] = aotgen_dw_channel_s8(x, w, bias, bias_is_16, rq_mode, rq_words, rq_shifts, rq_m0, rq_s0, in_w,
                                            ch, k_w, dil_h, dil_w, y0, x0, ky_lo, ky_hi, kx_lo, kx_hi, zp_in, zp_out,
                                            lo, hi, c + k);
        }
      }
#else
      for (; c < ch; ++c) {
        out[c] = aotgen_dw_channel_s8(x, w, bias, bias_is_16, rq_mode, rq_words, rq_shifts, rq_m0, rq_s0, in_w, ch,
                                      k_w, dil_h, dil_w, y0, x0, ky_lo, ky_hi, kx_lo, kx_hi, zp_in, zp_out, lo, hi, c);
      }
#endif
    }
  }
  return 0;
}

#endif /* AOTGEN_CONV_S8_H */
