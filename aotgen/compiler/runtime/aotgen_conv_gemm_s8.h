/* int8 convolution as a register-blocked GEMM (2 output channels x 2 pixels per step): the kernel
 * of 1x1 convolutions and, over an im2col buffer, of 3x3 / strided / input-layer convolutions.
 *
 * y[p][c] = clamp(zp_out + requantize(bias[c] + sum_k x[p][k] * w[c][k]), act_min, act_max)
 * The input zero point is NOT applied here: it is folded into `bias` at compile time
 * (bias' = bias + input_offset * sum_k w[c][k], compiler/conv_gemm.py), which is exact when
 * every tap that would fall outside the image reads the input zero point (im2col pads with it).
 * Weights are [out_channel][kp] rows (OHWI flattened, K zero-padded to kp), read two at a time.
 *
 * Two pixels at a time are widened to int16 rows in `scratch` (once per pixel pair, shared by every
 * output channel), so that the inner loop, per 4 MACs of each of its 4 accumulators, loads one
 * word of each x row and one word of each weight row (SXTB16 widens the weights): 4 loads, 4
 * SXTB16, 8 SMLAD per 16 MACs. On DSP cores the rows hold each group of 4 bytes in SXTB16's lane
 * order (b0 b2 b1 b3); elsewhere (M0/M3/AVR/RV32/host) in order, for the same blocking in plain C.
 * Integer sums are exact in any order. `fast` (decided at compile time by compiler/conv_gemm.py:
 * every shift <= 0 and |acc + bias| < 2^30) selects the SMMULR requantization on DSP cores.
 * AOTGEN_DSP_EMULATE (tests only) runs the DSP path on the host with C models of the instructions.
 *
 * Every function is `static inline` and named aotgen_<name>; the emitter copies the ones a model
 * calls into its library renamed <prefix>_<name> (compiler/c_helpers.py). Standard headers only. */
#ifndef AOTGEN_CONV_GEMM_S8_H
#define AOTGEN_CONV_GEMM_S8_H

#include <stdbool.h>
#include <stdint.h>

#include "aotgen_dsp.h"

/* Row q (0 or 1) of the GEMM's int16 pixel pair `rows` from n int8 values, zero-padded to n_padded
 * (the weights' zero columns: any value would do, zeros keep the row defined). The two rows are
 * interleaved per group of 4 (row 0's 4 values, then row 1's), so that the inner loop reads one
 * pointer; on DSP cores a group holds SXTB16's lane order (v0 v2 v1 v3). A last n_padded % 4
 * values (K not padded) follow the groups as (row 0, row 1) pairs. */
static inline void aotgen_widen_row_s8(const int8_t* src, int32_t n, int32_t n_padded, int16_t* rows, int32_t q) {
  int32_t i = 0;
  int16_t* dst = rows + 4 * q;
#if (defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP && defined(__GNUC__)) || defined(AOTGEN_DSP_EMULATE)
  for (; i + 4 <= n; i += 4) {
    uint32_t v, even, odd;
    __builtin_memcpy(&v, src + i, 4); /* one (unaligned) word load even under -ffreestanding */
    even = aotgen_sxtb16(v, 0);
    odd = aotgen_sxtb16(v, 1);
    __builtin_memcpy(dst + 2 * i, &even, 4);
    __builtin_memcpy(dst + 2 * i + 2, &odd, 4);
  }
  if (n_padded - i == 4) { /* a last group completed by zero padding */
    uint32_t v = 0, even, odd;
    for (int32_t j = 0; i + j < n; ++j) v |= (uint32_t)(uint8_t)src[i + j] << (8 * j);
    even = aotgen_sxtb16(v, 0);
    odd = aotgen_sxtb16(v, 1);
    __builtin_memcpy(dst + 2 * i, &even, 4);
    __builtin_memcpy(dst + 2 * i + 2, &odd, 4);
    i = n_padded;
  }
#endif
  for (; i + 4 <= n_padded; i += 4) {
    for (int32_t j = 0; j < 4; ++j) dst[2 * i + j] = i + j < n ? src[i + j] : 0;
  }
  for (; i < n_padded; ++i) rows[2 * i + q] = src[i]; /* the tail: only where K is not padded */
}

/* The four sums of the pixel pair `rows` (aotgen_widen_row_s8's layout) with int8 weight rows
 * w0, w1 (channels) over k elements plus biases b0, b1: s[0] = b0 + x0.w0, s[1] = b1 + x0.w1,
 * s[2] = b0 + x1.w0, s[3] = b1 + x1.w1. */
static inline void aotgen_dot_2x2_s8(const int16_t* rows, const int8_t* w0, const int8_t* w1, int32_t k,
                                     int32_t b0, int32_t b1, int32_t* s) {
  int32_t a00 = b0, a01 = b1, a10 = b0, a11 = b1; /* the channels' biases as the sums' start */
  int32_t groups = k >> 2;
  const int16_t* x = rows;
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP && defined(__GNUC__) && defined(__OPTIMIZE__)
  /* One asm loop: gcc's own schedule of the same instructions spills accumulators (13 registers
   * live). Per 16 MACs: 6 loads, 4 SXTB16, 8 SMLAD, 2 loop. Unoptimized builds (-O0 keeps a
   * frame pointer: too few registers) take the C below. */
  if (groups > 0) {
    uint32_t t0, t1, t2, t3, xv;
    int32_t w_step = (int32_t)(w1 - w0);
    const int8_t* pw = w0;
    int32_t n = groups;
    __asm__("1:\n\t"
            "ldr %[t1], [%[pw], %[ws]]\n\t"
            "ldr %[t0], [%[pw]], #4\n\t"
            "sxtb16 %[t2], %[t0]\n\t"
            "sxtb16 %[t0], %[t0], ror #8\n\t"
            "sxtb16 %[t3], %[t1]\n\t"
            "sxtb16 %[t1], %[t1], ror #8\n\t"
            "ldr %[xv], [%[px], #4]\n\t"
            "smlad %[a00], %[xv], %[t0], %[a00]\n\t"
            "smlad %[a01], %[xv], %[t1], %[a01]\n\t"
            "ldr %[xv], [%[px], #8]\n\t"
            "smlad %[a10], %[xv], %[t2], %[a10]\n\t"
            "smlad %[a11], %[xv], %[t3], %[a11]\n\t"
            "ldr %[xv], [%[px], #12]\n\t"
            "smlad %[a10], %[xv], %[t0], %[a10]\n\t"
            "smlad %[a11], %[xv], %[t1], %[a11]\n\t"
            "ldr %[xv], [%[px]], #16\n\t"
            "smlad %[a00], %[xv], %[t2], %[a00]\n\t"
            "smlad %[a01], %[xv], %[t3], %[a01]\n\t"
            "subs %[n], %[n], #1\n\t"
            "bne 1b"
            : [a00] "+r"(a00), [a01] "+r"(a01), [a10] "+r"(a10), [a11] "+r"(a11), [px] "+r"(x), [pw] "+r"(pw),
              [n] "+r"(n), [t0] "=&r"(t0), [t1] "=&r"(t1), [t2] "=&r"(t2), [t3] "=&r"(t3), [xv] "=&r"(xv)
            : [ws] "r"(w_step)
            : "cc", "memory");
  }
#elif (defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP && defined(__GNUC__)) || defined(AOTGEN_DSP_EMULATE)
  for (int32_t g = 0; g < groups; ++g, x += 8) {
    uint32_t wa, wb, xv;
    __builtin_memcpy(&wa, w0 + 4 * g, 4);
    __builtin_memcpy(&wb, w1 + 4 * g, 4);
    uint32_t wa02 = aotgen_sxtb16(wa, 0), wa13 = aotgen_sxtb16(wa, 1);
    uint32_t wb02 = aotgen_sxtb16(wb, 0), wb13 = aotgen_sxtb16(wb, 1);
    __builtin_memcpy(&xv, x, 4);
    a00 = aotgen_smlad(xv, wa02, a00);
    a01 = aotgen_smlad(xv, wb02, a01);
    __builtin_memcpy(&xv, x + 2, 4);
    a00 = aotgen_smlad(xv, wa13, a00);
    a01 = aotgen_smlad(xv, wb13, a01);
    __builtin_memcpy(&xv, x + 4, 4);
    a10 = aotgen_smlad(xv, wa02, a10);
    a11 = aotgen_smlad(xv, wb02, a11);
    __builtin_memcpy(&xv, x + 6, 4);
    a10 = aotgen_smlad(xv, wa13, a10);
    a11 = aotgen_smlad(xv, wb13, a11);
  }
#else
  for (int32_t g = 0; g < groups; ++g, x += 8) {
    for (int32_t j = 0; j < 4; ++j) {
      int32_t wa = w0[4 * g + j], wb = w1[4 * g + j];
      a00 += x[j] * wa;
      a01 += x[j] * wb;
      a10 += x[4 + j] * wa;
      a11 += x[4 + j] * wb;
    }
  }
#endif
  for (int32_t i = groups * 4; i < k; ++i) { /* the tail, (row 0, row 1) pairs after the groups */
    int32_t xa = rows[2 * i], xb = rows[2 * i + 1], wa = w0[i], wb = w1[i];
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

/* y[p * y_stride + c] for the pixel pair in `rows` (two_p 0: one pixel, stored once) and every
 * channel: an odd last channel is computed with its row paired with itself (not stored twice). */
static inline void aotgen_gemm_rows_s8(const int16_t* rows, int32_t two_p, const int8_t* w, int32_t k,
                                       int32_t n_channels, const int32_t* bias, const int32_t* rq, int32_t rq_step,
                                       int32_t shift_base, int32_t fast, int32_t zp_out, int32_t act_min,
                                       int32_t act_max, int8_t* y0, int32_t y_stride) {
  for (int32_t c = 0; c < n_channels; c += 2) {
    int32_t two_c = c + 1 < n_channels;
    const int8_t* w0 = w + c * k;
    int32_t s[4], m0, sh0, m1, sh1;
    aotgen_dot_2x2_s8(rows, w0, two_c ? w0 + k : w0, k, bias[c], bias[c + two_c], s);
    aotgen_gemm_requant(rq, rq_step, shift_base, c, &m0, &sh0);
    aotgen_gemm_requant(rq, rq_step, shift_base, c + two_c, &m1, &sh1);
    y0[c] = aotgen_out_s8(s[0], m0, sh0, fast, zp_out, act_min, act_max);
    if (two_c) y0[c + 1] = aotgen_out_s8(s[1], m1, sh1, fast, zp_out, act_min, act_max);
    if (two_p) {
      y0[y_stride + c] = aotgen_out_s8(s[2], m0, sh0, fast, zp_out, act_min, act_max);
      if (two_c) y0[y_stride + c + 1] = aotgen_out_s8(s[3], m1, sh1, fast, zp_out, act_min, act_max);
    }
  }
}

/* The im2col row of output pixel (oy, ox) as row q of the GEMM's pixel pair: kh*kw taps of c values
 * each from NHWC image x [h][w][c], a tap outside the image filled with the input zero point (so
 * the folded bias stays exact), zeros up to kp. With c a multiple of 4 each tap widens straight
 * into its groups; otherwise the taps are gathered into `bytes` (K int8) and widened from there. */
static inline void aotgen_im2col_row_s8(const int8_t* x, int32_t h, int32_t w, int32_t c, int32_t kh,
                                        int32_t kw, int32_t stride_h, int32_t stride_w, int32_t dil_h,
                                        int32_t dil_w, int32_t pad_h, int32_t pad_w, int32_t oy, int32_t ox,
                                        int32_t zp_in, int32_t kp, int16_t* rows, int32_t q, int8_t* bytes) {
  int32_t direct = (c & 3) == 0;
  int32_t off = 0;
  for (int32_t i = 0; i < kh; ++i) {
    int32_t iy = oy * stride_h - pad_h + i * dil_h;
    for (int32_t j = 0; j < kw; ++j, off += c) {
      int32_t ix = ox * stride_w - pad_w + j * dil_w;
      int32_t inside = iy >= 0 && iy < h && ix >= 0 && ix < w;
      const int8_t* src = inside ? x + (iy * w + ix) * c : x;
      if (direct && inside) {
        aotgen_widen_row_s8(src, c, c, rows + 2 * off, q); /* the tap's groups, from group off / 4 */
      } else if (direct) {
        for (int32_t e = 0; e < 2 * c; e += 8) { /* equal lanes: any order */
          for (int32_t l = 0; l < 4; ++l) rows[2 * off + e + 4 * q + l] = (int16_t)zp_in;
        }
      } else {
        if (inside) {
          for (int32_t e = 0; e < c; ++e) bytes[off + e] = src[e];
        } else {
          for (int32_t e = 0; e < c; ++e) bytes[off + e] = (int8_t)zp_in;
        }
      }
    }
  }
  if (!direct) aotgen_widen_row_s8(bytes, off, kp, rows, q); /* (direct: K is a multiple of 4, kp == K) */
}

/* A whole int8 CONV_2D (one image, NHWC in and out, weights as [c_out][kp] rows: OHWI flattened,
 * K = kh*kw*c_in zero-padded to kp): two output pixels at a time become the int16 pixel pair in
 * `scratch` (4 * kp bytes, plus K bytes when c_in is not a multiple of 4 and the convolution
 * gathers; planned in the arena), multiplied with every channel pair. A 1x1, stride-1, unpadded
 * convolution needs no gathering: its input pixels are widened as they are. */
static inline void aotgen_conv_gemm_s8(const int8_t* x, int32_t h, int32_t w, int32_t c_in, int32_t kh, int32_t kw,
                                       int32_t stride_h, int32_t stride_w, int32_t dil_h, int32_t dil_w, int32_t pad_h,
                                       int32_t pad_w, int32_t out_h, int32_t out_w, int32_t zp_in, const int8_t* wts,
                                       int32_t c_out, int32_t kp, const int32_t* bias, const int32_t* rq,
                                       int32_t rq_step, int32_t shift_base, int32_t fast, int32_t zp_out,
                                       int32_t act_min, int32_t act_max, int8_t* y, int8_t* scratch) {
  int32_t n = out_h * out_w;
  int32_t pointwise = kh == 1 && kw == 1 && stride_h == 1 && stride_w == 1 && pad_h == 0 && pad_w == 0 &&
                      out_h == h && out_w == w;
  int16_t* rows = (int16_t*)(void*)scratch; /* the arena places scratch 16-byte aligned */
  int8_t* bytes = scratch + 4 * kp;
  for (int32_t p = 0; p < n; p += 2) {
    int32_t two_p = p + 1 < n;
    for (int32_t q = 0; q < 2; ++q) { /* a last odd pixel fills both rows */
      int32_t pixel = two_p ? p + q : p;
      if (pointwise) {
        aotgen_widen_row_s8(x + pixel * c_in, c_in, kp, rows, q);
      } else {
        aotgen_im2col_row_s8(x, h, w, c_in, kh, kw, stride_h, stride_w, dil_h, dil_w, pad_h, pad_w, pixel / out_w,
                             pixel % out_w, zp_in, kp, rows, q, bytes);
      }
    }
    aotgen_gemm_rows_s8(rows, two_p, wts, kp, c_out, bias, rq, rq_step, shift_base, fast, zp_out, act_min, act_max,
                        y + p * c_out, c_out);
  }
}

#endif /* AOTGEN_CONV_GEMM_S8_H */
