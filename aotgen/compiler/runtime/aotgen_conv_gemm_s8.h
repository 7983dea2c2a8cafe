/* int8 convolution as a register-blocked GEMM (2 output channels x 2 pixels per step), the kernel
 * of 1x1 convolutions and, over an im2col buffer, of 3x3 / strided / input-layer convolutions.
 *
 * y[p][c] = clamp(zp_out + requantize(bias[c] + sum_k x[p][k] * w[c][k]), act_min, act_max)
 * The input zero point is NOT applied here: it is folded into `bias` at compile time
 * (bias' = bias + input_offset * sum_k w[c][k], compiler/conv_gemm.py), which is exact when
 * every tap that would fall outside the image reads the input zero point (im2col pads with it).
 * Weights are TFLite's [out_channel][K] rows (OHWI flattened), read two rows at a time.
 *
 * With the Arm DSP extension four MACs of each of the 4 accumulators are one SMLAD pair per
 * loaded word (SXTB16 widens once per word, shared by the two rows or the two pixels); elsewhere
 * (M0/M3/AVR/RV32/host) the same blocking runs as plain C. Integer sums are exact in any order.
 * `fast` (decided at compile time by compiler/conv_gemm.py: every shift <= 0 and
 * |acc + bias| < 2^30) selects the SMMULR requantization on DSP cores; it is exact there.
 * AOTGEN_DSP_EMULATE (tests only) runs the DSP path on the host with C models of the instructions.
 *
 * Every function is `static inline` and named aotgen_<name>; the emitter copies the ones a model
 * calls into its library renamed <prefix>_<name> (compiler/c_helpers.py). Standard headers only. */
#ifndef AOTGEN_CONV_GEMM_S8_H
#define AOTGEN_CONV_GEMM_S8_H

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

/* One output: requantize (fast or general form), add the output zero point, clamp. */
static inline int8_t aotgen_conv_out_s8(int32_t acc, int32_t multiplier, int32_t shift, int32_t fast,
                                        int32_t zp_out, int32_t act_min, int32_t act_max) {
  int32_t v = (fast ? aotgen_requantize_fast(acc, multiplier, shift) : aotgen_requantize(acc, multiplier, shift))
              + zp_out;
  v = v < act_min ? act_min : v;
  return (int8_t)(v > act_max ? act_max : v);
}

/* The four sums of rows x0, x1 (pixels) with rows w0, w1 (channels) over k elements:
 * s[0] = x0.w0, s[1] = x0.w1, s[2] = x1.w0, s[3] = x1.w1. */
static inline void aotgen_dot_2x2_s8(const int8_t* x0, const int8_t* x1, const int8_t* w0, const int8_t* w1,
                                     int32_t k, int32_t* s) {
  int32_t a00 = 0, a01 = 0, a10 = 0, a11 = 0;
  int32_t i = 0;
#if (defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP && defined(__GNUC__)) || defined(AOTGEN_DSP_EMULATE)
  for (; i + 4 <= k; i += 4) {
    uint32_t xa, xb, wa, wb;
    /* __builtin_memcpy: one (unaligned) word load even under -ffreestanding. */
    __builtin_memcpy(&xa, x0 + i, 4);
    __builtin_memcpy(&xb, x1 + i, 4);
    __builtin_memcpy(&wa, w0 + i, 4);
    __builtin_memcpy(&wb, w1 + i, 4);
    uint32_t xa02 = aotgen_sxtb16(xa, 0), xa13 = aotgen_sxtb16(xa, 1);
    uint32_t xb02 = aotgen_sxtb16(xb, 0), xb13 = aotgen_sxtb16(xb, 1);
    uint32_t wa02 = aotgen_sxtb16(wa, 0), wa13 = aotgen_sxtb16(wa, 1);
    uint32_t wb02 = aotgen_sxtb16(wb, 0), wb13 = aotgen_sxtb16(wb, 1);
    a00 = aotgen_smlad(xa13, wa13, aotgen_smlad(xa02, wa02, a00));
    a01 = aotgen_smlad(xa13, wb13, aotgen_smlad(xa02, wb02, a01));
    a10 = aotgen_smlad(xb13, wa13, aotgen_smlad(xb02, wa02, a10));
    a11 = aotgen_smlad(xb13, wb13, aotgen_smlad(xb02, wb02, a11));
  }
#endif
  for (; i < k; ++i) {
    int32_t xa = x0[i], xb = x1[i], wa = w0[i], wb = w1[i];
    a00 += xa * wa;
    a01 += xa * wb;
    a10 += xb * wa;
    a11 += xb * wb;
  }
  s[0] = a00;
  s[1] = a01;
  s[2] = a10;
  s[3] = a11;
}

/* y[p * y_stride + c] for p < n_pixels, c < n_channels from x[p * x_stride + k] and w[c * k + kk];
 * channel c requantizes with packed word rq[c * rq_step] (rq_step 0: one word for the layer).
 * An odd last pixel or channel is computed with its row paired with itself (not stored twice). */
static inline void aotgen_gemm_s8(const int8_t* x, int32_t x_stride, int32_t n_pixels, const int8_t* w,
                                  int32_t k, int32_t n_channels, const int32_t* bias, const int32_t* rq,
                                  int32_t rq_step, int32_t shift_base, int32_t fast, int32_t zp_out,
                                  int32_t act_min, int32_t act_max, int8_t* y, int32_t y_stride) {
  for (int32_t p = 0; p < n_pixels; p += 2) {
    const int8_t* x0 = x + p * x_stride;
    int32_t two_p = p + 1 < n_pixels;
    const int8_t* x1 = two_p ? x0 + x_stride : x0;
    int8_t* y0 = y + p * y_stride;
    for (int32_t c = 0; c < n_channels; c += 2) {
      int32_t two_c = c + 1 < n_channels;
      const int8_t* w0 = w + c * k;
      const int8_t* w1 = two_c ? w0 + k : w0;
      int32_t s[4];
      aotgen_dot_2x2_s8(x0, x1, w0, w1, k, s);
      /* The packed requantization words (ChannelRequant "packed", params.py): bits 0..29 the
       * multiplier's low bits (bit 30 implied), bits 30..31 the shift above shift_base. */
      uint32_t r0 = (uint32_t)rq[c * rq_step], r1 = (uint32_t)rq[(c + two_c) * rq_step];
      int32_t m0 = (int32_t)((r0 & 0x3FFFFFFFu) | 0x40000000u), sh0 = (int32_t)(r0 >> 30) + shift_base;
      int32_t m1 = (int32_t)((r1 & 0x3FFFFFFFu) | 0x40000000u), sh1 = (int32_t)(r1 >> 30) + shift_base;
      y0[c] = aotgen_conv_out_s8(s[0] + bias[c], m0, sh0, fast, zp_out, act_min, act_max);
      if (two_c) y0[c + 1] = aotgen_conv_out_s8(s[1] + bias[c + 1], m1, sh1, fast, zp_out, act_min, act_max);
      if (two_p) {
        y0[y_stride + c] = aotgen_conv_out_s8(s[2] + bias[c], m0, sh0, fast, zp_out, act_min, act_max);
        if (two_c)
          y0[y_stride + c + 1] = aotgen_conv_out_s8(s[3] + bias[c + 1], m1, sh1, fast, zp_out, act_min, act_max);
      }
    }
  }
}

/* The im2col row of output pixel (oy, ox): kh*kw taps of c bytes each from NHWC image x [h][w][c],
 * a tap outside the image filled with the input zero point (so the folded bias stays exact). */
static inline void aotgen_im2col_row_s8(const int8_t* x, int32_t h, int32_t w, int32_t c, int32_t kh,
                                        int32_t kw, int32_t stride_h, int32_t stride_w, int32_t dil_h,
                                        int32_t dil_w, int32_t pad_h, int32_t pad_w, int32_t oy, int32_t ox,
                                        int32_t zp_in, int8_t* row) {
  for (int32_t i = 0; i < kh; ++i) {
    int32_t iy = oy * stride_h - pad_h + i * dil_h;
    for (int32_t j = 0; j < kw; ++j) {
      int32_t ix = ox * stride_w - pad_w + j * dil_w;
      if (iy >= 0 && iy < h && ix >= 0 && ix < w) {
        const int8_t* src = x + (iy * w + ix) * c;
        for (int32_t q = 0; q < c; ++q) row[q] = src[q];
      } else {
        for (int32_t q = 0; q < c; ++q) row[q] = (int8_t)zp_in;
      }
      row += c;
    }
  }
}

/* A whole int8 CONV_2D (one image, NHWC in and out, OHWI weights as [c_out][kh*kw*c_in] rows):
 * two output pixels at a time are gathered into `scratch` (2 * kh*kw*c_in bytes, planned in
 * the arena) and multiplied with the 2x2-blocked GEMM. A 1x1, stride-1, unpadded convolution
 * needs no gathering: its input pixels already are the GEMM's rows. */
static inline void aotgen_conv_gemm_s8(const int8_t* x, int32_t h, int32_t w, int32_t c_in, int32_t kh, int32_t kw,
                                  int32_t stride_h, int32_t stride_w, int32_t dil_h, int32_t dil_w, int32_t pad_h,
                                  int32_t pad_w, int32_t out_h, int32_t out_w, int32_t zp_in, const int8_t* wts,
                                  int32_t c_out, const int32_t* bias, const int32_t* rq, int32_t rq_step,
                                  int32_t shift_base, int32_t fast, int32_t zp_out, int32_t act_min,
                                  int32_t act_max, int8_t* y, int8_t* scratch) {
  int32_t k = kh * kw * c_in;
  int32_t n = out_h * out_w;
  if (kh == 1 && kw == 1 && stride_h == 1 && stride_w == 1 && pad_h == 0 && pad_w == 0 && out_h == h &&
      out_w == w) {
    aotgen_gemm_s8(x, c_in, n, wts, k, c_out, bias, rq, rq_step, shift_base, fast, zp_out, act_min, act_max, y,
                   c_out);
    return;
  }
  for (int32_t p = 0; p < n; p += 2) {
    int32_t pixels = p + 1 < n ? 2 : 1;
    for (int32_t q = 0; q < pixels; ++q)
      aotgen_im2col_row_s8(x, h, w, c_in, kh, kw, stride_h, stride_w, dil_h, dil_w, pad_h, pad_w, (p + q) / out_w,
                           (p + q) % out_w, zp_in, scratch + q * k);
    aotgen_gemm_s8(scratch, k, pixels, wts, k, c_out, bias, rq, rq_step, shift_base, fast, zp_out, act_min,
                   act_max, y + p * c_out, c_out);
  }
}

#endif /* AOTGEN_CONV_GEMM_S8_H */
