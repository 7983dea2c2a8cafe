"""A Python model of TFLite's (gemmlowp's) integer arithmetic, in unbounded Python ints with the
int32 wraps C has: what the runtime C helpers (aotgen/compiler/runtime/) are tested against."""

from __future__ import annotations

import numpy as np

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1


def wrap32(x: int) -> int:
    return (x + 2**31) % 2**32 - 2**31


def srdhm(a: int, b: int) -> int:
    """SaturatingRoundingDoublingHighMul."""
    if a == b == INT32_MIN:
        return INT32_MAX
    ab = a * b
    nudge = (1 << 30) if ab >= 0 else 1 - (1 << 30)
    v = ab + nudge
    q = abs(v) // (1 << 31)  # C division truncates toward zero
    return q if v >= 0 else -q


def rounding_divide_by_pot(x: int, exponent: int) -> int:
    mask = (1 << exponent) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (1 if x < 0 else 0)
    return (x >> exponent) + (1 if remainder > threshold else 0)


def multiply_by_quantized_multiplier(x: int, m: int, shift: int) -> int:
    left, right = max(shift, 0), max(-shift, 0)
    return rounding_divide_by_pot(srdhm(wrap32(x << left), m), right)


def single_rounding(x: int, m: int, shift: int) -> int:
    total = 31 - shift
    return wrap32((x * m + (1 << (total - 1))) >> total)  # the int32 cast TFLite applies


def saturating_shift_left(x: int, exponent: int) -> int:
    """SaturatingRoundingMultiplyByPOT<exponent> for exponent > 0."""
    return max(INT32_MIN, min(INT32_MAX, x << exponent))


def count_leading_zeros(x: int) -> int:
    return 32 - x.bit_length()


def exp_on_interval_between_negative_one_quarter_and_0_excl(a: int) -> int:
    constant_term, one_third = 1895147668, 715827883
    x = a + (1 << 28)
    x2 = srdhm(x, x)
    x3 = srdhm(x2, x)
    x4_over_4 = rounding_divide_by_pot(srdhm(x2, x2), 2)
    poly = rounding_divide_by_pot(srdhm(x4_over_4 + x3, one_third) + x2, 1)
    return constant_term + srdhm(constant_term, x + poly)


EXP_OF_MINUS_POT = {-2: 1672461947, -1: 1302514674, 0: 790015084, 1: 290630308, 2: 39332535, 3: 720401, 4: 242}


def exp_on_negative_values_q5_26(a: int) -> int:
    """gemmlowp's exp_on_negative_values, Q5.26 in (a <= 0), Q0.31 out."""
    one_quarter = 1 << 24
    a_mod_quarter_minus_one_quarter = (a & (one_quarter - 1)) - one_quarter
    result = exp_on_interval_between_negative_one_quarter_and_0_excl(saturating_shift_left(a_mod_quarter_minus_one_quarter, 5))
    remainder = a_mod_quarter_minus_one_quarter - a
    for exponent, multiplier in EXP_OF_MINUS_POT.items():
        if remainder & (1 << (26 + exponent)):
            result = srdhm(result, multiplier)
    return INT32_MAX if a == 0 else result


def one_over_one_plus_x_for_x_in_0_1(a: int) -> int:
    half_denominator = (a + 2**31) >> 1  # RoundingHalfSum(a, One()) for a >= 0, exact
    x = 1515870810 + srdhm(half_denominator, -1010580540)
    for _ in range(3):
        one_minus_half_denominator_times_x = (1 << 29) - srdhm(half_denominator, x)
        x = x + saturating_shift_left(srdhm(x, one_minus_half_denominator_times_x), 2)
    return saturating_shift_left(x, 1)


def softmax_exp(diff: int, multiplier: int, left_shift: int, diff_min: int) -> int:
    if diff < diff_min:
        return 0
    return exp_on_negative_values_q5_26(srdhm(wrap32(diff << left_shift), multiplier))


def softmax_out(exp_q0_31: int, sum_q12_19: int) -> int:
    """One int8 softmax output: exp times GetReciprocal(sum), in 1/256 units offset by -128."""
    headroom_plus_one = count_leading_zeros(sum_q12_19)
    num_bits_over_unit = 12 - headroom_plus_one
    shifted_sum_minus_one = wrap32((sum_q12_19 << headroom_plus_one) - 2**31)
    shifted_scale = one_over_one_plus_x_for_x_in_0_1(shifted_sum_minus_one)
    v = rounding_divide_by_pot(srdhm(shifted_scale, exp_q0_31), num_bits_over_unit + 31 - 8) - 128
    return max(-128, min(127, v))


def affine_quantize_int8(x: float, scale: float, zero_point: int) -> int:
    """TFLite's AffineQuantize of one float32: TfLiteRound (half away from zero) of x / scale."""
    v = np.float32(x) / np.float32(scale)
    r = int(np.sign(v) * np.floor(np.abs(v) + np.float32(0.5))) if np.isfinite(v) else (4096 if v > 0 else -4096)
    return max(-128, min(127, r + zero_point))


def nearbyint_scaled(acc: int, scale: np.float32) -> int:
    """onnxruntime's requantization of an int32 accumulator: nearbyintf((float)acc * scale)."""
    return int(np.rint(np.float32(np.float32(acc) * np.float32(scale))))
