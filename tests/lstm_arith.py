"""A numpy model of TFLite's integer LSTM (lstm_eval.cc LstmStepInteger8x8_16 with
portable_tensor_utils and gemmlowp's FixedPoint<int16_t>): what runtime/aotgen_lstm_s8.h is
tested against at shapes and values the converted models do not reach. int16 values are int64
arrays wrapped as C wraps them; the constants are derived here from gemmlowp's int32 ones."""

from __future__ import annotations

import numpy as np

import tflite_arith as T


def wrap16(x):
    return ((np.asarray(x, np.int64) + 32768) & 0xFFFF) - 32768


def srdhm16(a, b):
    a, b = np.asarray(a, np.int64), np.asarray(b, np.int64)
    ab = a * b
    v = ab + np.where(ab >= 0, 1 << 14, 1 - (1 << 14))
    q = np.where(v >= 0, v >> 15, -((-v) >> 15))  # C division truncates toward zero
    return np.where((a == -32768) & (b == -32768), 32767, wrap16(q))


def rdbpot(x, e):
    x = np.asarray(x, np.int64)
    mask = (1 << e) - 1
    return (x >> e) + ((x & mask) > (mask >> 1) + (x < 0))


def sat_shl16(x, e):
    x = np.asarray(x, np.int64)
    limit = (1 << (15 - e)) - 1
    return np.where(x > limit, 32767, np.where(x < -limit, -32768, x << e))


def rescaled(int32_constant: int) -> int:
    """gemmlowp's RescaleConstantInitializer for int16."""
    return T.rounding_divide_by_pot(int32_constant, 16)


def exp_quarter(a):
    c, third = rescaled(1895147668), rescaled(715827883)
    x = wrap16(a + (1 << 12))
    x2 = srdhm16(x, x)
    x3, x4 = srdhm16(x2, x), srdhm16(x2, x2)
    poly = rdbpot(wrap16(srdhm16(wrap16(rdbpot(x4, 2) + x3), third) + x2), 1)
    return np.clip(c + srdhm16(c, wrap16(x + poly)), -32768, 32767)


def exp_negative(a, bits: int):
    a = np.asarray(a, np.int64)
    frac = 15 - bits
    quarter = 1 << (frac - 2)
    amq = wrap16((a & (quarter - 1)) - quarter)
    result = exp_quarter(sat_shl16(amq, bits) if bits else amq)
    remainder = wrap16(amq - a)
    for e, m in zip(range(-2, 5), (1672461947, 1302514674, 790015084, 290630308, 39332535, 720401, 242)):
        if bits > e:
            result = np.where(remainder & (1 << (frac + e)), srdhm16(result, rescaled(m)), result)
    if bits > 5:
        result = np.where(a < rescaled(-(1 << (36 - bits))), 0, result)
    return np.where(a == 0, 32767, result)


def _newton(a, minus_x: bool):
    s = np.asarray(a, np.int64) + 32767
    v = s + np.where(s >= 0, 1, -1)  # RoundingHalfSum: (sum + sign) / 2, truncated
    half = wrap16(np.where(v >= 0, v // 2, -((-v) // 2)))
    x = wrap16(rescaled(1515870810) + srdhm16(half, rescaled(-1010580540)))
    for _ in range(3):
        x = wrap16(x + sat_shl16(srdhm16(x, wrap16((1 << 13) - srdhm16(half, x))), 2))
    return sat_shl16(wrap16(x - (1 << 13)), 2) if minus_x else sat_shl16(x, 1)


def sigmoid16(a):
    """gemmlowp::logistic of FixedPoint<int16_t, 3>."""
    a = np.asarray(a, np.int64)
    pos = _newton(exp_negative(wrap16(-wrap16(np.where(a > 0, a, -a))), 3), False)
    return np.where(a == 0, rescaled(1 << 30), np.where(a > 0, pos, wrap16(32767 - pos)))


def tanh16(a, bits: int):
    """gemmlowp::tanh of FixedPoint<int16_t, bits>."""
    a = np.asarray(a, np.int64)
    t = _newton(exp_negative(np.where(a < 0, a, wrap16(-a)), bits + 1), True)
    return np.where(a == 0, 0, np.where(a < 0, wrap16(-t), t))


def mbqm(x, m: int, shift: int):
    return np.array([T.multiply_by_quantized_multiplier(int(v), m, shift) for v in np.ravel(x)]).reshape(np.shape(x))


def lstm(x, w_in, w_rec, b_in, b_rec, scales, hidden_zp, cell_log2, cell_clip, h0, c0, time_major):
    """The kernel's sequence (its argument layout), step by step as TFLite computes it."""
    steps, batch = (x.shape[0], x.shape[1]) if time_major else (x.shape[1], x.shape[0])
    hidden = w_in.shape[1]
    out = np.zeros((*x.shape[:2], hidden), np.int64)
    for b in range(batch):
        h, c = h0[b].astype(np.int64), c0[b].astype(np.int64)
        for t in range(steps):
            xt = (x[t, b] if time_major else x[b, t]).astype(np.int64)
            gates = []
            for g in range(4):
                m_in, s_in, m_rec, s_rec = scales[4 * g: 4 * g + 4]
                v = np.clip(mbqm(b_in[g] + w_in[g].astype(np.int64) @ xt, m_in, s_in), -32768, 32767)
                v = np.clip(v + mbqm(b_rec[g] + w_rec[g].astype(np.int64) @ h, m_rec, s_rec), -32768, 32767)
                gates.append(tanh16(v, 3) if g == 2 else sigmoid16(v))
            i, f, g_, o = gates
            c = np.clip(wrap16(rdbpot(f * c, 15)) + wrap16(rdbpot(i * g_, 30 + cell_log2)), -32768, 32767)
            if cell_clip > 0:
                c = np.clip(c, -cell_clip, cell_clip)
            bits = 15 + cell_log2
            th = tanh16(c, bits) if 0 <= bits <= 6 else i
            h = np.clip(mbqm(o * th, scales[16], scales[17]) + hidden_zp, -128, 127)
            if time_major:
                out[t, b] = h
            else:
                out[b, t] = h
    return out
