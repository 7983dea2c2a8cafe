/* int8 depthwise convolution (depth multiplier 1, one image, NHWC) on DSP cores, on constants the
 * compiler prepares (conv_gemm.depthwise_constants): weights as TFLite stores them ([kh*kw][ch]),
 * the input zero point folded into each channel's bias (bias' = bias + input_offset *
 * sum_t w[t][c]), and the GEMM's requantization table (aotgen_gemm_requant, aotgen_dsp.h).
 *
 * The folded bias is exact when every tap outside the image reads the input zero point: each output
 * pixel first lists its taps' input pointers, an outside tap pointing at `zp_row` (ch bytes of
 * zp_in, planned arena scratch), so the tap loop has no bounds tests and no offset arithmetic.
 * Four channels per step: one word of x and one of w per tap, SXTB16 widens both, SMLABB/SMLATT
 * accumulate each channel; the last ch % 4 channels run as plain C, as does every channel on the
 * host's plain path. Integer sums are exact in any order. AOTGEN_DSP_EMULATE (tests only) runs the
 * DSP path on the host with C models of the instructions.
 *
 * Every function is `static inline` and named aotgen_<name>; the emitter copies the ones a model
 * calls into its library renamed <prefix>_<name> (compiler/c_helpers.py). Standard headers only. */
#ifndef AOTGEN_DEPTHWISE_S8_H
#define AOTGEN_DEPTHWISE_S8_H

#include <stdbool.h>
#include <stdint.h>

#include "aotgen_dsp.h"

/* y = depthwise(x): in_h x in_w x ch in, out_h x out_w x ch out, kh x kw window with strides,
 * dilations and top/left padding; requantized with the GEMM's table and epilogue. */
static inline int32_t aotgen_depthwise_s8(const int8_t* x, int32_t in_h, int32_t in_w, int32_t ch, int32_t kh,
                                          int32_t kw, int32_t stride_h, int32_t stride_w, int32_t dil_h,
                                          int32_t dil_w, int32_t pad_t, int32_t pad_l, int32_t out_h, int32_t out_w,
                                          int32_t zp_in, const int8_t* w, const int32_t* bias, const int32_t* rq,
                                          int32_t rq_step, int32_t shift_base, int32_t fast, int32_t zp_out,
                                          int32_t act_min, int32_t act_max, int8_t* y, int8_t* zp_row) {
  const int8_t* taps[25]; /* at most 5x5 taps: larger windows keep the general kernel (conv_gemm.py) */
  int32_t n_taps = kh * kw;
  for (int32_t c = 0; c < ch; ++c) zp_row[c] = (int8_t)zp_in;
  for (int32_t oy = 0; oy < out_h; ++oy) {
    for (int32_t ox = 0; ox < out_w; ++ox) {
      int32_t t = 0;
      for (int32_t i = 0; i < kh; ++i) {
        int32_t iy = oy * stride_h - pad_t + i * dil_h;
        for (int32_t j = 0; j < kw; ++j, ++t) {
          int32_t ix = ox * stride_w - pad_l + j * dil_w;
          taps[t] = iy >= 0 && iy < in_h && ix >= 0 && ix < in_w ? x + (iy * in_w + ix) * ch : zp_row;
        }
      }
      int8_t* out = y + (oy * out_w + ox) * ch;
      int32_t c = 0;
#if (defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP && defined(__GNUC__)) || defined(AOTGEN_DSP_EMULATE)
      for (; c + 4 <= ch; c += 4) {
        int32_t a0 = bias[c], a1 = bias[c + 1], a2 = bias[c + 2], a3 = bias[c + 3];
        const int8_t* wt = w + c;
        for (t = 0; t < n_taps; ++t, wt += ch) {
          uint32_t xv, wv;
          __builtin_memcpy(&xv, taps[t] + c, 4); /* one (unaligned) word load even under -ffreestanding */
          __builtin_memcpy(&wv, wt, 4);
          uint32_t x02 = aotgen_sxtb16(xv, 0), x13 = aotgen_sxtb16(xv, 1);
          uint32_t w02 = aotgen_sxtb16(wv, 0), w13 = aotgen_sxtb16(wv, 1);
          a0 = aotgen_smla_lane(x02, w02, a0, 0);
          a2 = aotgen_smla_lane(x02, w02, a2, 1);
          a1 = aotgen_smla_lane(x13, w13, a1, 0);
          a3 = aotgen_smla_lane(x13, w13, a3, 1);
        }
        int32_t acc[4] = {a0, a1, a2, a3};
        for (int32_t k = 0; k < 4; ++k) {
          int32_t m, s;
          aotgen_gemm_requant(rq, rq_step, shift_base, c + k, &m, &s);
          out[c + k] = aotgen_out_s8(acc[k], m, s, fast, zp_out, act_min, act_max);
        }
      }
#endif
      for (; c < ch; ++c) {
        int32_t acc = bias[c];
        for (t = 0; t < n_taps; ++t) acc += (int32_t)taps[t][c] * w[t * ch + c];
        int32_t m, s;
        aotgen_gemm_requant(rq, rq_step, shift_base, c, &m, &s);
        out[c] = aotgen_out_s8(acc, m, s, fast, zp_out, act_min, act_max);
      }
    }
  }
  return 0;
}

#endif /* AOTGEN_DEPTHWISE_S8_H */
