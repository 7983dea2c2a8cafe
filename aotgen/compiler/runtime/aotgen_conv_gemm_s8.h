/* int8 convolution as a register-blocked GEMM (2 output channels x 3 pixels per step): two kernels,
 * aotgen_conv_gemm_1x1_s8 (1x1 stride-1 unpadded layers: their input pixels are the rows) and
 * aotgen_conv_gemm_s8 (any other, over im2col: 3x3 / strided / dilated / input layers).
 *
 * y[p][c] = clamp(zp_out + requantize(bias[c] + sum_k (x[p][k] - zp_in) * w[c][k]), act_min, act_max)
 * The input zero point is subtracted where the input is widened to int16 (SXTAB16 adds -zp to
 * both lanes as it sign-extends: no extra instruction, once per pixel for every channel), so that
 * the bias stays TFLite's own and is stored as 16 bits where it fits (`bias_is_16`); a tap
 * outside the image widens to 0, as TFLite skips it.
 * Weights are [out_channel][kp] rows (OHWI flattened, K zero-padded to kp), each channel pair's
 * two rows interleaved per group of 4 at compile time (conv_gemm.interleave_pairs), read as one.
 *
 * Three pixels at a time are widened to int16 rows in `scratch` (once per pixel triple, shared by
 * every output channel), so that the inner loop, per 4 MACs of each of its 6 accumulators, loads
 * one word of each x row and one word of each weight row (SXTB16 widens the weights): 8 loads, 4
 * SXTB16, 12 SMLAD per 24 MACs. On DSP cores the rows hold each group of 4 bytes in SXTB16's lane
 * order (b0 b2 b1 b3); elsewhere (M0/M3/AVR/RV32/host) in order, for the same blocking in plain C.
 * Integer sums are exact in any order. `fast` (decided at compile time by conv_gemm.fast_form:
 * every shift <= 0 and |acc + bias| < 2^30) selects the SMMULR requantization on DSP cores; 2
 * says every shift is also <= -2 and every multiplier normalized (the branch-free epilogue for
 * every channel, no test).
 * AOTGEN_DSP_EMULATE (tests only) runs the DSP path on the host with C models of the instructions.
 *
 * Every function is `static inline` (always_inline where a body is specialized by a constant
 * argument) and named aotgen_<name>; the emitter copies the ones a model calls into its library
 * renamed <prefix>_<name> (compiler/c_helpers.py). Standard headers only. */
#ifndef AOTGEN_CONV_GEMM_S8_H
#define AOTGEN_CONV_GEMM_S8_H

#include <stdbool.h>
#include <stdint.h>

#include "aotgen_dsp.h"

/* Row q (0..2) of the GEMM's int16 pixel triple `rows` from n int8 values minus zp, padded to
 * n_padded (the weights' zero columns: any value would do). The three rows are
 * interleaved per group of 4 (row 0's 4 values, row 1's, row 2's), so that the inner loop reads one
 * pointer; on DSP cores a group holds SXTB16's lane order (v0 v2 v1 v3). A last n_padded % 4
 * values (K not padded) follow the groups as (row 0, row 1, row 2) triples. */
static inline void aotgen_widen_row_s8(const int8_t* src, int32_t n, int32_t n_padded, int32_t zp, int16_t* rows,
                                       int32_t q) {
  int32_t i = 0;
  int16_t* dst = rows + 4 * q;
#if (defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP && defined(__GNUC__)) || defined(AOTGEN_DSP_EMULATE)
  uint32_t neg = aotgen_pair16(-zp);
  for (; i + 4 <= n; i += 4) {
    uint32_t v, even, odd;
    __builtin_memcpy(&v, src + i, 4); /* one (unaligned) word load even under -ffreestanding */
    even = aotgen_sxtab16(neg, v, 0);
    odd = aotgen_sxtab16(neg, v, 1);
    __builtin_memcpy(dst + 3 * i, &even, 4);
    __builtin_memcpy(dst + 3 * i + 2, &odd, 4);
  }
  if (n_padded - i == 4) { /* a last group completed by padding */
    uint32_t v = 0, even, odd;
    for (int32_t j = 0; i + j < n; ++j) v |= (uint32_t)(uint8_t)src[i + j] << (8 * j);
    even = aotgen_sxtab16(neg, v, 0);
    odd = aotgen_sxtab16(neg, v, 1);
    __builtin_memcpy(dst + 3 * i, &even, 4);
    __builtin_memcpy(dst + 3 * i + 2, &odd, 4);
    i = n_padded;
  }
#endif
  for (; i + 4 <= n_padded; i += 4) {
    for (int32_t j = 0; j < 4; ++j) dst[3 * i + j] = (int16_t)(i + j < n ? src[i + j] - zp : 0);
  }
  if (i < n_padded) { /* the tail, only where K is not padded */
    int16_t* tail = rows + 3 * i + q; /* (a stepped pointer: with an index 3 i + q gcc warns of overflow) */
    for (; i < n_padded; ++i, tail += 3) *tail = (int16_t)(src[i] - zp);
  }
}

/* The six sums of the pixel triple `rows` (aotgen_widen_row_s8's layout) with a channel pair's
 * weights w2 (conv_gemm.interleave_pairs: per group of 4, channel 0's 4 bytes then channel 1's;
 * then the k % 4 tail as (channel 0, channel 1) pairs) over k elements plus biases b0, b1:
 * s[2 q + j] = b_j + x_q . w_j. */
static inline void aotgen_dot_3x2_s8(const int16_t* rows, const int8_t* w2, int32_t k, int32_t b0, int32_t b1,
                                     int32_t* s) {
  int32_t a00 = b0, a01 = b1, a10 = b0, a11 = b1, a20 = b0, a21 = b1; /* the biases start the sums */
  int32_t groups = k >> 2;
  const int16_t* x = rows;
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP && defined(__GNUC__) && defined(__OPTIMIZE__)
  /* One asm loop in 13 registers (gcc's own schedule spills; a 14th would fail where the frame
   * pointer is kept): the loop ends at the weights' end, read from the stack into the free x
   * register. Per 24 MACs: 9 loads, 4 SXTB16, 12 SMLAD, 2 loop. Unoptimized builds (-O0 keeps
   * a frame pointer and more) take the C below. */
  if (groups > 0) {
    uint32_t wa02, wa13, wb02, wb13, xv;
    const int8_t* pw = w2;
    const int8_t* end = w2 + 8 * groups;
    __asm__("1:\n\t"
            "ldr %[wa13], [%[pw]], #8\n\t"
            "ldr %[wb13], [%[pw], #-4]\n\t"
            "sxtb16 %[wa02], %[wa13]\n\t"
            "sxtb16 %[wa13], %[wa13], ror #8\n\t"
            "sxtb16 %[wb02], %[wb13]\n\t"
            "sxtb16 %[wb13], %[wb13], ror #8\n\t"
            "ldr %[xv], [%[px], #4]\n\t"
            "smlad %[a00], %[xv], %[wa13], %[a00]\n\t"
            "smlad %[a01], %[xv], %[wb13], %[a01]\n\t"
            "ldr %[xv], [%[px], #8]\n\t"
            "smlad %[a10], %[xv], %[wa02], %[a10]\n\t"
            "smlad %[a11], %[xv], %[wb02], %[a11]\n\t"
            "ldr %[xv], [%[px], #12]\n\t"
            "smlad %[a10], %[xv], %[wa13], %[a10]\n\t"
            "smlad %[a11], %[xv], %[wb13], %[a11]\n\t"
            "ldr %[xv], [%[px], #16]\n\t"
            "smlad %[a20], %[xv], %[wa02], %[a20]\n\t"
            "smlad %[a21], %[xv], %[wb02], %[a21]\n\t"
            "ldr %[xv], [%[px], #20]\n\t"
            "smlad %[a20], %[xv], %[wa13], %[a20]\n\t"
            "smlad %[a21], %[xv], %[wb13], %[a21]\n\t"
            "ldr %[xv], [%[px]], #24\n\t"
            "smlad %[a00], %[xv], %[wa02], %[a00]\n\t"
            "smlad %[a01], %[xv], %[wb02], %[a01]\n\t"
            "ldr %[xv], %[end]\n\t"
            "cmp %[pw], %[xv]\n\t"
            "bne 1b"
            : [a00] "+r"(a00), [a01] "+r"(a01), [a10] "+r"(a10), [a11] "+r"(a11), [a20] "+r"(a20),
              [a21] "+r"(a21), [px] "+r"(x), [pw] "+r"(pw), [wa02] "=&r"(wa02), [wa13] "=&r"(wa13),
              [wb02] "=&r"(wb02), [wb13] "=&r"(wb13), [xv] "=&r"(xv)
            : [end] "m"(end)
            : "cc", "memory");
  }
#elif (defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP && defined(__GNUC__)) || defined(AOTGEN_DSP_EMULATE)
  for (int32_t g = 0; g < groups; ++g, x += 12) {
    uint32_t wa, wb, xv;
    __builtin_memcpy(&wa, w2 + 8 * g, 4);
    __builtin_memcpy(&wb, w2 + 8 * g + 4, 4);
    uint32_t wa02 = aotgen_sxtb16(wa, 0), wa13 = aotgen_sxtb16(wa, 1);
    uint32_t wb02 = aotgen_sxtb16(wb, 0), wb13 = aotgen_sxtb16(wb, 1);
    int32_t* acc[3][2] = {{&a00, &a01}, {&a10, &a11}, {&a20, &a21}};
    for (int32_t q = 0; q < 3; ++q) {
      __builtin_memcpy(&xv, x + 4 * q, 4);
      *acc[q][0] = aotgen_smlad(xv, wa02, *acc[q][0]);
      *acc[q][1] = aotgen_smlad(xv, wb02, *acc[q][1]);
      __builtin_memcpy(&xv, x + 4 * q + 2, 4);
      *acc[q][0] = aotgen_smlad(xv, wa13, *acc[q][0]);
      *acc[q][1] = aotgen_smlad(xv, wb13, *acc[q][1]);
    }
  }
#else
  for (int32_t g = 0; g < groups; ++g, x += 12) {
    for (int32_t j = 0; j < 4; ++j) {
      int32_t wa = w2[8 * g + j], wb = w2[8 * g + 4 + j];
      a00 += x[j] * wa;
      a01 += x[j] * wb;
      a10 += x[4 + j] * wa;
      a11 += x[4 + j] * wb;
      a20 += x[8 + j] * wa;
      a21 += x[8 + j] * wb;
    }
  }
#endif
  for (int32_t i = groups * 4; i < k; ++i) { /* the tail, (row 0, row 1, row 2) triples after the groups */
    int32_t xa = rows[3 * i], xb = rows[3 * i + 1], xc = rows[3 * i + 2], wa = w2[2 * i], wb = w2[2 * i + 1];
    a00 += xa * wa;
    a01 += xa * wb;
    a10 += xb * wa;
    a11 += xb * wb;
    a20 += xc * wa;
    a21 += xc * wb;
  }
  s[0] = a00;
  s[1] = a01;
  s[2] = a10;
  s[3] = a11;
  s[4] = a20;
  s[5] = a21;
}

/* The three sums of the pixel triple `rows` with one plain weight row w (an odd last channel) over
 * k elements plus bias b: s[q] = b + x_q . w. */
static inline void aotgen_dot_3x1_s8(const int16_t* rows, const int8_t* w, int32_t k, int32_t b, int32_t* s) {
  int32_t groups = k >> 2;
  for (int32_t q = 0; q < 3; ++q) {
    int32_t acc = b;
    for (int32_t i = 0; i < groups * 4; ++i) {
#if (defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP && defined(__GNUC__)) || defined(AOTGEN_DSP_EMULATE)
      int32_t lane = ((i & 1) << 1) | ((i >> 1) & 1); /* SXTB16's order within a group: v0 v2 v1 v3 */
#else
      int32_t lane = i & 3;
#endif
      acc += rows[3 * (i & ~3) + 4 * q + lane] * w[i];
    }
    for (int32_t i = groups * 4; i < k; ++i) acc += rows[3 * i + q] * w[i];
    s[q] = acc;
  }
}

/* y[q * y_stride + c] for the first n_p (1..3) pixels of the triple in `rows` and every channel:
 * channel pairs through aotgen_dot_3x2_s8, an odd last channel through aotgen_dot_3x1_s8. Always
 * inlined into aotgen_gemm_rows_b16_s8 and _b32_s8, one body for each bias width: a test of
 * bias_is_16 per channel pair, in registers this loop needs, cost vww 1.3 % of its instructions. */
static inline __attribute__((always_inline)) void aotgen_gemm_rows_s8(
    const int16_t* rows, int32_t n_p, const int8_t* w, int32_t k, int32_t n_channels, const void* bias,
    int32_t bias_is_16, const int32_t* rq, int32_t rq_step, int32_t shift_base, int32_t fast, int32_t zp_out,
    int32_t act_min, int32_t act_max, int8_t* y0, int32_t y_stride) {
  int32_t c = 0;
  const int8_t* w2 = w;
  for (; c + 2 <= n_channels; c += 2, w2 += 2 * k) {
    int32_t s[6], m0, sh0, m1, sh1;
    aotgen_dot_3x2_s8(rows, w2, k, aotgen_bias_at(bias, bias_is_16, c), aotgen_bias_at(bias, bias_is_16, c + 1), s);
    aotgen_gemm_requant(rq, rq_step, shift_base, c, &m0, &sh0);
    aotgen_gemm_requant(rq, rq_step, shift_base, c + 1, &m1, &sh1);
    int8_t* y = y0 + c;
    /* shifts <= -2 and multipliers >= 2^30 (bit 30 set): the branch-free form */
    if ((fast == 2 || (fast && ((sh0 + 1) & (sh1 + 1) & (int32_t)((uint32_t)(m0 & m1) << 1)) < 0)) && n_p == 3) {
      int32_t p0 = (int32_t)(UINT32_C(1) << (32 + sh0)), p1 = (int32_t)(UINT32_C(1) << (32 + sh1));
      int32_t d0 = (int32_t)((uint32_t)m0 << 1), d1 = (int32_t)((uint32_t)m1 << 1);
      y[0] = aotgen_out_fast_s8(s[0], d0, p0, zp_out, act_min, act_max);
      y[1] = aotgen_out_fast_s8(s[1], d1, p1, zp_out, act_min, act_max);
      y += y_stride;
      y[0] = aotgen_out_fast_s8(s[2], d0, p0, zp_out, act_min, act_max);
      y[1] = aotgen_out_fast_s8(s[3], d1, p1, zp_out, act_min, act_max);
      y += y_stride;
      y[0] = aotgen_out_fast_s8(s[4], d0, p0, zp_out, act_min, act_max);
      y[1] = aotgen_out_fast_s8(s[5], d1, p1, zp_out, act_min, act_max);
    } else { /* (unrolled: indexing s by q would keep it in memory) */
      y[0] = aotgen_out_s8(s[0], m0, sh0, fast, zp_out, act_min, act_max);
      y[1] = aotgen_out_s8(s[1], m1, sh1, fast, zp_out, act_min, act_max);
      if (n_p > 1) {
        y[y_stride] = aotgen_out_s8(s[2], m0, sh0, fast, zp_out, act_min, act_max);
        y[y_stride + 1] = aotgen_out_s8(s[3], m1, sh1, fast, zp_out, act_min, act_max);
      }
      if (n_p > 2) {
        y[2 * y_stride] = aotgen_out_s8(s[4], m0, sh0, fast, zp_out, act_min, act_max);
        y[2 * y_stride + 1] = aotgen_out_s8(s[5], m1, sh1, fast, zp_out, act_min, act_max);
      }
    }
  }
  if (c < n_channels) {
    int32_t s[3], m, sh;
    aotgen_dot_3x1_s8(rows, w2, k, aotgen_bias_at(bias, bias_is_16, c), s);
    aotgen_gemm_requant(rq, rq_step, shift_base, c, &m, &sh);
    for (int32_t q = 0; q < n_p; ++q) y0[q * y_stride + c] = aotgen_out_s8(s[q], m, sh, fast, zp_out, act_min, act_max);
  }
}

/* aotgen_gemm_rows_s8 for int16 biases. */
static inline void aotgen_gemm_rows_b16_s8(
    const int16_t* rows, int32_t n_p, const int8_t* w, int32_t k, int32_t n_channels, const void* bias,
    const int32_t* rq, int32_t rq_step, int32_t shift_base, int32_t fast, int32_t zp_out, int32_t act_min,
    int32_t act_max, int8_t* y0, int32_t y_stride) {
  aotgen_gemm_rows_s8(rows, n_p, w, k, n_channels, bias, 1, rq, rq_step, shift_base, fast, zp_out, act_min, act_max, y0,
                      y_stride);
}

/* aotgen_gemm_rows_s8 for int32 biases. */
static inline void aotgen_gemm_rows_b32_s8(
    const int16_t* rows, int32_t n_p, const int8_t* w, int32_t k, int32_t n_channels, const void* bias,
    const int32_t* rq, int32_t rq_step, int32_t shift_base, int32_t fast, int32_t zp_out, int32_t act_min,
    int32_t act_max, int8_t* y0, int32_t y_stride) {
  aotgen_gemm_rows_s8(rows, n_p, w, k, n_channels, bias, 0, rq, rq_step, shift_base, fast, zp_out, act_min, act_max, y0,
                      y_stride);
}

/* The im2col row of output pixel (oy, ox) as row q of the GEMM's pixel triple: kh*kw taps of c values
 * each from NHWC image x [h][w][c] minus zp_in, a tap outside the image 0 (TFLite skips it), padding
 * up to kp. With c a multiple of 4 each tap widens straight into its groups; otherwise the taps are
 * gathered into `bytes` (K int8; an outside tap as zp_in) and widened from there. */
static inline void aotgen_im2col_row_s8(const int8_t* x, int32_t h, int32_t w, int32_t c, int32_t kh,
                                        int32_t kw, int32_t stride_h, int32_t stride_w, int32_t dil_h,
                                        int32_t dil_w, int32_t pad_h, int32_t pad_w, int32_t oy, int32_t ox,
                                        int32_t zp_in, int32_t kp, int16_t* rows, int32_t q, int8_t* bytes) {
  int32_t direct = (c & 3) == 0;
  int32_t off = 0;
  int32_t ix0 = ox * stride_w - pad_w;
  int32_t cols_inside = ix0 >= 0 && ix0 + (kw - 1) * dil_w < w;
  for (int32_t i = 0; i < kh; ++i) {
    int32_t iy = oy * stride_h - pad_h + i * dil_h;
    int32_t row_inside = iy >= 0 && iy < h;
    if (!direct && row_inside && cols_inside && dil_w == 1) { /* the window row: kw * c bytes in a row */
      const int8_t* src = x + (iy * w + ix0) * c;
      int32_t e = 0, n = kw * c;
      for (; e + 4 <= n; e += 4) { /* word copies (unaligned loads and stores of one word each) */
        uint32_t v;
        __builtin_memcpy(&v, src + e, 4);
        __builtin_memcpy(bytes + off + e, &v, 4);
      }
      for (; e < n; ++e) bytes[off + e] = src[e];
      off += n;
      continue;
    }
    for (int32_t j = 0; j < kw; ++j, off += c) {
      int32_t ix = ix0 + j * dil_w;
      int32_t inside = row_inside && ix >= 0 && ix < w;
      const int8_t* src = inside ? x + (iy * w + ix) * c : x;
      if (direct && inside) {
        aotgen_widen_row_s8(src, c, c, zp_in, rows + 3 * off, q); /* the tap's groups, from group off / 4 */
      } else if (direct) {
        for (int32_t e = 0; e < 3 * c; e += 12) { /* equal lanes: any order */
          for (int32_t l = 0; l < 4; ++l) rows[3 * off + e + 4 * q + l] = 0;
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
  if (!direct) aotgen_widen_row_s8(bytes, off, kp, zp_in, rows, q); /* (direct: K is a multiple of 4, kp == K) */
}

/* The channel pairs of a pixel triple, through the gemm_rows body for the layer's bias width. */
static inline void aotgen_gemm_triple_s8(const int16_t* rows, int32_t n_p, const int8_t* wts, int32_t kp,
                                         int32_t c_out, const void* bias, int32_t bias_is_16, const int32_t* rq,
                                         int32_t rq_step, int32_t shift_base, int32_t fast, int32_t zp_out,
                                         int32_t act_min, int32_t act_max, int8_t* y) {
  if (bias_is_16) {
    aotgen_gemm_rows_b16_s8(rows, n_p, wts, kp, c_out, bias, rq, rq_step, shift_base, fast, zp_out, act_min, act_max,
                            y, c_out);
  } else {
    aotgen_gemm_rows_b32_s8(rows, n_p, wts, kp, c_out, bias, rq, rq_step, shift_base, fast, zp_out, act_min, act_max,
                            y, c_out);
  }
}

/* A whole int8 1x1, stride-1, unpadded CONV_2D (one image, n pixels of c_in channels in, c_out out,
 * weights as [c_out][kp] rows, kp = c_in zero-padded, channel pairs interleaved): three pixels at
 * a time are widened (minus zp_in) as they are into the int16 rows in `scratch` (6 * kp bytes,
 * planned in the arena) and multiplied with every channel pair. A kernel apart from
 * aotgen_conv_gemm_s8 (the compiler picks it): in one function the im2col code cost vww's
 * pointwise layers 30 instructions a pixel, and each keeps the constants gcc propagates into it. */
static inline void aotgen_conv_gemm_1x1_s8(const int8_t* x, int32_t n, int32_t c_in, int32_t zp_in, const int8_t* wts,
                                           int32_t c_out, int32_t kp, const void* bias, int32_t bias_is_16,
                                           const int32_t* rq, int32_t rq_step, int32_t shift_base, int32_t fast,
                                           int32_t zp_out, int32_t act_min, int32_t act_max, int8_t* y,
                                           int8_t* scratch) {
  int16_t* rows = (int16_t*)(void*)scratch; /* the arena places scratch 16-byte aligned */
  for (int32_t p = 0; p < n; p += 3) {
    int32_t n_p = n - p < 3 ? n - p : 3;
    for (int32_t q = 0; q < 3; ++q) { /* a last pixel fills the rows left over */
      aotgen_widen_row_s8(x + (p + (q < n_p ? q : n_p - 1)) * c_in, c_in, kp, zp_in, rows, q);
    }
    aotgen_gemm_triple_s8(rows, n_p, wts, kp, c_out, bias, bias_is_16, rq, rq_step, shift_base, fast, zp_out, act_min,
                          act_max, y + p * c_out);
  }
}

/* A whole int8 CONV_2D (one image, NHWC in and out, weights as [c_out][kp] rows: OHWI flattened,
 * K = kh*kw*c_in zero-padded to kp, channel pairs interleaved) over im2col: three output pixels at a
 * time become the int16 pixel triple in `scratch` (6 * kp bytes, plus K bytes when c_in is not a
 * multiple of 4 and the convolution gathers; planned in the arena), multiplied with every channel
 * pair. Any geometry (aotgen_conv_gemm_1x1_s8 is the faster kernel of 1x1 unpadded stride-1
 * layers). */
static inline void aotgen_conv_gemm_s8(const int8_t* x, int32_t h, int32_t w, int32_t c_in, int32_t kh, int32_t kw,
                                       int32_t stride_h, int32_t stride_w, int32_t dil_h, int32_t dil_w, int32_t pad_h,
                                       int32_t pad_w, int32_t out_h, int32_t out_w, int32_t zp_in, const int8_t* wts,
                                       int32_t c_out, int32_t kp, const void* bias, int32_t bias_is_16,
                                       const int32_t* rq, int32_t rq_step, int32_t shift_base, int32_t fast,
                                       int32_t zp_out, int32_t act_min, int32_t act_max, int8_t* y, int8_t* scratch) {
  int32_t n = out_h * out_w;
  int16_t* rows = (int16_t*)(void*)scratch; /* the arena places scratch 16-byte aligned */
  int8_t* bytes = scratch + 6 * kp;
  for (int32_t p = 0; p < n; p += 3) {
    int32_t n_p = n - p < 3 ? n - p : 3;
    for (int32_t q = 0; q < 3; ++q) { /* a last pixel fills the rows left over */
      int32_t pixel = p + (q < n_p ? q : n_p - 1);
      aotgen_im2col_row_s8(x, h, w, c_in, kh, kw, stride_h, stride_w, dil_h, dil_w, pad_h, pad_w, pixel / out_w,
                           pixel % out_w, zp_in, kp, rows, q, bytes);
    }
    aotgen_gemm_triple_s8(rows, n_p, wts, kp, c_out, bias, bias_is_16, rq, rq_step, shift_base, fast, zp_out, act_min,
                          act_max, y + p * c_out);
  }
}

#endif /* AOTGEN_CONV_GEMM_S8_H */
