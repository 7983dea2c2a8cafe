/* The int8 LSTM of TFLite (UNIDIRECTIONAL_SEQUENCE_LSTM, "8x8_16": int8 input, weights and
 * hidden state, 16-bit cell state whose scale is a power of two), as LiteRT's reference kernel
 * computes it (lstm_eval.cc LstmStepInteger8x8_16 with portable_tensor_utils): each gate is
 * clamp16(requantize(W x + b_eff)) then clamp16(+ requantize(R h + r_eff)) in Q3.12, the gates
 * go through gemmlowp's int16 logistic / tanh, the cell update is two rounding shifts and a
 * saturating add, and the hidden state is requantize(o * tanh(c)) + zp. The zero points of x and
 * h are folded into b_eff / r_eff at compile time (compiler/quantized/lstm.py), as TFLite does in
 * Prepare. No peephole, projection, layer norm or CIFG (refused at compile time).
 *
 * gemmlowp's FixedPoint<int16_t, k> arithmetic is reproduced with k as a run-time argument:
 * plain int16 + and - wrap, products are SaturatingRoundingDoublingHighMul, constants are the
 * int32 ones rounded by 2^16 (RescaleConstantInitializer). 32-bit arithmetic only.
 *
 * Every function is `static inline` and named aotgen_<name>; the emitter copies the ones a model
 * calls into its library renamed <prefix>_<name> (compiler/c_helpers.py). Standard headers only. */
#ifndef AOTGEN_LSTM_S8_H
#define AOTGEN_LSTM_S8_H

#include <stdint.h>

#include "aotgen_dot.h"
#include "aotgen_fixedpoint.h"

/* gemmlowp's SaturatingRoundingDoublingHighMul<int16_t>. */
static inline int16_t aotgen_srdhm16(int16_t a, int16_t b) {
  if (a == INT16_MIN && b == INT16_MIN) return INT16_MAX;
  int32_t ab = (int32_t)a * (int32_t)b;
  int32_t nudge = ab >= 0 ? (INT32_C(1) << 14) : (INT32_C(1) - (INT32_C(1) << 14));
  return (int16_t)((ab + nudge) / (INT32_C(1) << 15));
}

/* gemmlowp's RoundingDivideByPOT<int16_t>. */
static inline int16_t aotgen_rdbpot16(int16_t x, int32_t exponent) {
  int32_t mask = (int32_t)((INT32_C(1) << exponent) - 1);
  int32_t remainder = (int32_t)x & mask;
  int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
  return (int16_t)(((int32_t)x >> exponent) + (remainder > threshold ? 1 : 0));
}

/* gemmlowp's SaturatingRoundingMultiplyByPOT<exponent > 0> on int16: a saturating left shift. */
static inline int16_t aotgen_sat_shl16(int16_t x, int32_t exponent) {
  int32_t threshold = (int32_t)((INT32_C(1) << (15 - exponent)) - 1);
  if ((int32_t)x > threshold) return INT16_MAX;
  if ((int32_t)x < -threshold) return INT16_MIN;
  return (int16_t)((int32_t)x * (INT32_C(1) << exponent));
}

/* int16 + - as gemmlowp computes them (int arithmetic, stored back wrapping). */
static inline int16_t aotgen_add16(int32_t a, int32_t b) {
  return (int16_t)(uint16_t)(uint32_t)(a + b);
}

/* exp(x) for x in [-1/4, 0), Q0.15 in and out. */
static inline int16_t aotgen_exp16_quarter(int16_t a) {
  const int16_t constant_term = 28918; /* exp(-1/8) */
  const int16_t one_third = 10923;
  int16_t x = aotgen_add16(a, INT32_C(1) << 12);
  int16_t x2 = aotgen_srdhm16(x, x);
  int16_t x3 = aotgen_srdhm16(x2, x);
  int16_t x4 = aotgen_srdhm16(x2, x2);
  int16_t x4_over_4 = aotgen_rdbpot16(x4, 2);
  int16_t poly = aotgen_rdbpot16(aotgen_add16(aotgen_srdhm16(aotgen_add16(x4_over_4, x3), one_third), x2), 1);
  int32_t sum = (int32_t)constant_term + aotgen_srdhm16(constant_term, aotgen_add16(x, poly));
  return (int16_t)(sum > INT16_MAX ? INT16_MAX : sum);
}

/* gemmlowp's exp_on_negative_values for FixedPoint<int16_t, integer_bits> (a <= 0), Q0.15 out. */
static inline int16_t aotgen_exp16_negative(int16_t a, int32_t integer_bits) {
  static const int16_t multipliers[7] = {25520, 19875, 12055, 4435, 600, 11, 0}; /* exp(-2^e), e=-2..4 */
  int32_t fractional_bits = 15 - integer_bits;
  int32_t quarter = INT32_C(1) << (fractional_bits - 2);
  int16_t a_mod_quarter_minus_quarter = aotgen_add16((int32_t)a & (quarter - 1), -quarter);
  int16_t rescaled = integer_bits > 0 ? aotgen_sat_shl16(a_mod_quarter_minus_quarter, integer_bits)
                                      : a_mod_quarter_minus_quarter;
  int16_t result = aotgen_exp16_quarter(rescaled);
  int16_t remainder = aotgen_add16(a_mod_quarter_minus_quarter, -(int32_t)a);
  for (int32_t e = -2; e <= 4; ++e) {
    if (integer_bits > e && ((int32_t)remainder & (INT32_C(1) << (fractional_bits + e))))
      result = aotgen_srdhm16(result, multipliers[e + 2]);
  }
  if (integer_bits > 5) {
    int32_t clamp = aotgen_rdbpot(-(int32_t)(INT32_C(1) << (36 - integer_bits)), 16); /* -32 */
    if ((int32_t)a < clamp) result = 0;
  }
  return a == 0 ? INT16_MAX : result;
}

/* Newton-Raphson 1 / (1 + x) (minus_x: (1 - x) / (1 + x)) for x in (0, 1), Q0.15. */
static inline int16_t aotgen_div16_one_plus(int16_t a, int32_t minus_x) {
  int32_t sum = (int32_t)a + INT16_MAX;
  int16_t half_denominator = (int16_t)((sum + (sum >= 0 ? 1 : -1)) / 2);
  int16_t x = aotgen_add16(23130, aotgen_srdhm16(half_denominator, -15420)); /* 48/17 - 32/17 d, Q2.13 */
  for (int32_t i = 0; i < 3; ++i) {
    int16_t one_minus = aotgen_add16(INT32_C(1) << 13, -(int32_t)aotgen_srdhm16(half_denominator, x));
    x = aotgen_add16(x, aotgen_sat_shl16(aotgen_srdhm16(x, one_minus), 2));
  }
  return minus_x ? aotgen_sat_shl16(aotgen_add16(x, -(INT32_C(1) << 13)), 2) : aotgen_sat_shl16(x, 1);
}

/* gemmlowp::logistic(FixedPoint<int16_t, 3>) (TFLite's PortableApplySigmoid), Q0.15 out. */
static inline int16_t aotgen_sigmoid16(int16_t a) {
  if (a == 0) return 16384;
  int16_t abs_a = a > 0 ? a : aotgen_add16(0, -(int32_t)a);
  int16_t pos = aotgen_div16_one_plus(aotgen_exp16_negative(aotgen_add16(0, -(int32_t)abs_a), 3), 0);
  return a > 0 ? pos : aotgen_add16(INT16_MAX, -(int32_t)pos);
}

/* gemmlowp::tanh(FixedPoint<int16_t, integer_bits>) (TFLite's PortableApplyTanh), Q0.15 out. */
static inline int16_t aotgen_tanh16(int16_t a, int32_t integer_bits) {
  if (a == 0) return 0;
  int16_t n = a < 0 ? a : aotgen_add16(0, -(int32_t)a);
  int16_t t = aotgen_div16_one_plus(aotgen_exp16_negative(n, integer_bits + 1), 1);
  return a < 0 ? aotgen_add16(0, -(int32_t)t) : t;
}

/* One gate of one step, TFLite's two MatrixBatchVectorMultiplyAccumulate calls then the
 * activation: clamp16(clamp16(rq(b_in + W x)) + rq(b_rec + R h)) in Q3.12, then sigmoid (or
 * tanh, `is_tanh`) in Q0.15. */
static inline void aotgen_lstm_gate_s8(const int8_t* x, int32_t n_input, const int8_t* h, int32_t n_cell,
                                       const int8_t* w_in, const int8_t* w_rec, const int32_t* b_in,
                                       const int32_t* b_rec, const int32_t* scales, int32_t is_tanh,
                                       int16_t* gate) {
  for (int32_t r = 0; r < n_cell; ++r) {
    /* the dot products: SMLAD pairs on cores with the DSP extension */
    int32_t v = aotgen_requantize(b_in[r] + aotgen_dot_s8(x, w_in + r * n_input, n_input, 0), scales[0], scales[1]);
    v = v > INT16_MAX ? INT16_MAX : (v < INT16_MIN ? INT16_MIN : v);
    v += aotgen_requantize(b_rec[r] + aotgen_dot_s8(h, w_rec + r * n_cell, n_cell, 0), scales[2], scales[3]);
    v = v > INT16_MAX ? INT16_MAX : (v < INT16_MIN ? INT16_MIN : v);
    gate[r] = is_tanh ? aotgen_tanh16((int16_t)v, 3) : aotgen_sigmoid16((int16_t)v);
  }
}

/* The whole sequence. x: [n_batch][n_steps][n_input] (time_major: [n_steps][n_batch][n_input]);
 * out: the hidden state of every step, laid out the same way with n_cell; w_in [4][n_cell][n_input]
 * and w_rec [4][n_cell][n_cell] in gate order input, forget, cell, output; b_in / b_rec [4][n_cell]
 * (zero points folded); scales [4][4] (input multiplier, shift, recurrent multiplier, shift) then
 * the hidden multiplier and shift; h0 [n_batch][n_cell] int8, c0 the same in int16; cell_log2 the
 * cell scale's exponent (<= -9), cell_clip 0 for none. scratch: 4 n_cell int16 gates, n_cell int16
 * cell state and n_cell int8 hidden state. */
static inline int32_t aotgen_lstm_s8(const int8_t* x, int32_t n_batch, int32_t n_steps, int32_t n_input,
                                     int32_t n_cell, int32_t time_major, const int8_t* w_in,
                                     const int8_t* w_rec, const int32_t* b_in, const int32_t* b_rec,
                                     const int32_t* scales, int32_t hidden_zp, int32_t cell_log2,
                                     int32_t cell_clip, const int8_t* h0, const int16_t* c0, int8_t* out,
                                     int16_t* scratch) {
  int16_t* gates = scratch;
  int16_t* cell = scratch + 4 * n_cell;
  int8_t* hidden = (int8_t*)(cell + n_cell);
  for (int32_t b = 0; b < n_batch; ++b) {
    for (int32_t i = 0; i < n_cell; ++i) {
      cell[i] = c0[b * n_cell + i];
      hidden[i] = h0[b * n_cell + i];
    }
    for (int32_t t = 0; t < n_steps; ++t) {
      int32_t row = time_major ? t * n_batch + b : b * n_steps + t;
      const int8_t* xt = x + row * n_input;
      for (int32_t g = 0; g < 4; ++g)
        aotgen_lstm_gate_s8(xt, n_input, hidden, n_cell, w_in + g * n_cell * n_input, w_rec + g * n_cell * n_cell,
                            b_in + g * n_cell, b_rec + g * n_cell, scales + 4 * g, g == 2, gates + g * n_cell);
      for (int32_t i = 0; i < n_cell; ++i) {
        /* UpdateLstmCellInteger: c = clamp16(rdbpot(f c, 15) + rdbpot(i g, 30 + cell_log2)), clipped */
        int32_t fc = aotgen_rdbpot((int32_t)gates[n_cell + i] * (int32_t)cell[i], 15);
        int32_t ig = aotgen_rdbpot((int32_t)gates[i] * (int32_t)gates[2 * n_cell + i], 30 + cell_log2);
        int32_t c = (int32_t)(int16_t)fc + (int32_t)(int16_t)ig;
        c = c > INT16_MAX ? INT16_MAX : (c < INT16_MIN ? INT16_MIN : c);
        if (cell_clip > 0) c = c > cell_clip ? cell_clip : (c < -cell_clip ? -cell_clip : c);
        cell[i] = (int16_t)c;
        /* CalculateLstmOutputInteger8x8_16: h = clamp8(rq(o tanh(c)) + zp). TFLite's ApplyTanh
         * computes nothing for a cell scale outside 2^-15..2^-9 (integer bits outside 0..6) and
         * leaves its output buffer, which holds the input gate, as it is: so does this. */
        int32_t bits = 15 + cell_log2;
        int32_t th = bits >= 0 && bits <= 6 ? aotgen_tanh16((int16_t)c, bits) : gates[i];
        int32_t h = aotgen_requantize((int32_t)gates[3 * n_cell + i] * th, scales[16], scales[17]) + hidden_zp;
        hidden[i] = (int8_t)(h > 127 ? 127 : (h < -128 ? -128 : h));
      }
      for (int32_t i = 0; i < n_cell; ++i) out[row * n_cell + i] = hidden[i];
    }
  }
  return 0;
}

#endif /* AOTGEN_LSTM_S8_H */
