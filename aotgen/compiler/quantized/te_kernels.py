"""The integer kernels, as TE computes that TVM lowers to C: int32 accumulation, TFLite's
fixed-point requantization through the C helpers (c_helpers.py)."""

from __future__ import annotations

import numpy as np
from tvm import te, tirx

from .. import c_helpers
from .params import ChannelRequant

# ----------------------------------------------------------------------------------- TE kernels


def requantize(x, multiplier, shift, single_rounding: bool = False):
    """c_helpers' aotgen_requantize (or _single): int32 x * multiplier * 2^shift, TFLite-rounded."""
    return c_helpers.call("int32", "requantize_single" if single_rounding else "requantize", x, multiplier, shift)


def _epilogue(acc, bias, rq: ChannelRequant, rq_tensors, zp_out: int, lo: int, hi: int, out_dtype: str, shape,
              channel_axis: int, single_rounding: bool = False):
    def f(*idx):
        c = idx[channel_axis]
        mult, shift = rq.expr(c, rq_tensors)
        v = requantize(acc(*idx) + tirx.Cast("int32", bias[c]), mult, shift, single_rounding) + tirx.const(zp_out, "int32")
        v = tirx.max(tirx.min(v, tirx.const(hi, "int32")), tirx.const(lo, "int32"))
        return tirx.Cast(out_dtype, v)

    return te.compute(shape, f, name="requantize")


def conv1x1_te(x, w, bias, rq_tensors, *, rq: ChannelRequant, zp_in: int, zp_out: int, lo: int, hi: int, out_shape):
    """A pointwise int8 convolution (1x1, stride 1, no groups) as a call of the C micro-kernel
    aotgen_conv1x1_s8 (runtime/aotgen_conv_s8.h), on the bias and requantization tables as stored."""
    cin, cout = int(x.shape[-1]), int(out_shape[-1])
    pixels = int(np.prod(out_shape[:-1]))
    i32 = lambda v: tirx.const(int(v), "int32")  # noqa: E731
    mode = {"scalar": 0, "packed": 1, "arrays": 2}[rq.kind]
    m0, s0 = (int(rq.mult[0]), int(rq.shift[0])) if rq.kind == "scalar" else (0, rq.base)
    def call(ins, outs):
        # Tables a mode does not read get a valid pointer that is never dereferenced (the weights).
        words = ins[3].data if rq_tensors else ins[1].data
        shifts = ins[4].data if len(rq_tensors) > 1 else ins[1].data
        return c_helpers.call_kernel(
            "conv1x1_s8", ins[0].data, ins[1].data, ins[2].data, i32(str(bias.dtype) == "int16"), i32(mode), words,
            shifts, i32(m0), i32(s0), outs[0].data, i32(pixels), i32(cin), i32(cout), i32(zp_in), i32(zp_out),
            i32(lo), i32(hi))

    return te.extern(out_shape, [x, w, bias, *rq_tensors], call, dtype="int8", name="conv1x1")


def dwconv_te(x, w, bias, rq_tensors, *, rq: ChannelRequant, strides, dilation, pads, zp_in: int, zp_out: int, lo: int,
              hi: int, out_shape):
    """A depthwise int8 convolution (depth multiplier 1, batch 1) as a call of the C micro-kernel
    aotgen_dwconv_s8 (runtime/aotgen_conv_s8.h), on the bias and requantization tables as stored."""
    _, in_h, in_w, ch = (int(d) for d in x.shape)
    k_h, k_w = int(w.shape[1]), int(w.shape[2])
    i32 = lambda v: tirx.const(int(v), "int32")  # noqa: E731
    mode = {"scalar": 0, "packed": 1, "arrays": 2}[rq.kind]
    m0, s0 = (int(rq.mult[0]), int(rq.shift[0])) if rq.kind == "scalar" else (0, rq.base)

    def call(ins, outs):
        words = ins[3].data if rq_tensors else ins[1].data  # unused tables: any valid pointer
        shifts = ins[4].data if len(rq_tensors) > 1 else ins[1].data
        dims = [in_h, in_w, ch, k_h, k_w, *strides, *dilation, *pads, out_shape[1], out_shape[2], zp_in, zp_out, lo, hi]
        return c_helpers.call_kernel("dwconv_s8", ins[0].data, ins[1].data, ins[2].data,
                                     i32(str(bias.dtype) == "int16"), i32(mode), words, shifts, i32(m0), i32(s0),
                                     outs[0].data, *map(i32, dims))

    return te.extern(out_shape, [x, w, bias, *rq_tensors], call, dtype="int8", name="dwconv")


def conv2d_te(x, w, bias, rq_tensors, *, rq: ChannelRequant, strides, dilation, pads, zp_in: int, zp_out: int, lo: int, hi: int,
              out_shape, depth_multiplier: int | None, out_dtype: str):
    """NHWC int8 convolution on TFLite's own weight layout (OHWI, or 1HWC for depthwise).

    Out-of-bounds input positions contribute nothing, as if padded with the input zero point.
    """
    _, in_h, in_w, in_c = (int(d) for d in x.shape)
    sh, sw = strides
    dh, dw = dilation
    pad_top, pad_left = pads
    kh_n, kw_n = (int(w.shape[1]), int(w.shape[2]))
    rkh = te.reduce_axis((0, kh_n), "kh")
    rkw = te.reduce_axis((0, kw_n), "kw")
    zp = tirx.const(zp_in, "int32")

    def tap(n, oh, ow, ic, kh, kw):
        ih = oh * sh + kh * dh - pad_top
        iw = ow * sw + kw * dw - pad_left
        inside = tirx.all(ih >= 0, ih < in_h, iw >= 0, iw < in_w)
        return inside, tirx.if_then_else(inside, tirx.Cast("int32", x[n, ih, iw, ic]) - zp, tirx.const(0, "int32"))

    if depth_multiplier is None:
        # Grouped convolution when the filter sees fewer channels than the input has
        # (reference_integer_ops::ConvPerChannel: groups = input depth / filter depth).
        filter_c = int(w.shape[3])
        per_group = int(out_shape[3]) // (in_c // filter_c)
        ric = te.reduce_axis((0, filter_c), "ic")

        def acc_f(n, oh, ow, oc):
            ic = ric if filter_c == in_c else (oc // per_group) * filter_c + ric
            _, xv = tap(n, oh, ow, ic, rkh, rkw)
            return te.sum(xv * tirx.Cast("int32", w[oc, rkh, rkw, ric]), axis=[rkh, rkw, ric])
    else:
        def acc_f(n, oh, ow, oc):
            _, xv = tap(n, oh, ow, oc // depth_multiplier, rkh, rkw)
            return te.sum(xv * tirx.Cast("int32", w[0, rkh, rkw, oc]), axis=[rkh, rkw])

    acc = te.compute(out_shape, acc_f, name="conv_acc")
    return _epilogue(acc, bias, rq, rq_tensors, zp_out, lo, hi, out_dtype, out_shape, 3)


def transpose_conv_pads(padding: int, out_size: int, in_size: int, kernel: int, stride: int) -> int:
    """TFLite's ComputePaddingHeightWidth as transpose_conv.cc calls it (on the output size)."""
    from tflite.Padding import Padding

    unused = (out_size + stride - 1) // stride if padding == Padding.SAME else (out_size + stride - kernel) // stride
    return max(0, (unused - 1) * stride + kernel - out_size) // 2


def transpose_conv_te(x, w, bias, rq_tensors, *, rq: ChannelRequant, strides, pads, zp_in: int, zp_out: int,
                      lo: int, hi: int, out_shape):
    """TFLite's reference_integer_ops::TransposeConv, as a gather: output (oy, ox) collects input
    (iy, ix) through tap (ky, kx) when iy * stride - pad + ky == oy. Weights OHWI."""
    _, in_h, in_w, in_c = (int(d) for d in x.shape)
    sh, sw = strides
    pad_top, pad_left = pads
    kh_n, kw_n = int(w.shape[1]), int(w.shape[2])
    rkh = te.reduce_axis((0, kh_n), "kh")
    rkw = te.reduce_axis((0, kw_n), "kw")
    ric = te.reduce_axis((0, in_c), "ic")
    i32 = lambda v: tirx.const(v, "int32")  # noqa: E731

    def acc_f(n, oy, ox, oc):
        ty = oy + pad_top - rkh
        tx = ox + pad_left - rkw
        iy, ix = tirx.truncdiv(ty, sh), tirx.truncdiv(tx, sw)
        inside = tirx.all(ty >= 0, tirx.truncmod(ty, sh) == 0, iy < in_h, tx >= 0, tirx.truncmod(tx, sw) == 0, ix < in_w)
        xv = tirx.if_then_else(inside, tirx.Cast("int32", x[n, iy, ix, ric]) - i32(zp_in), i32(0))
        return te.sum(xv * tirx.Cast("int32", w[oc, rkh, rkw, ric]), axis=[rkh, rkw, ric])

    acc = te.compute(out_shape, acc_f, name="transpose_conv_acc")
    return _epilogue(acc, bias, rq, rq_tensors, zp_out, lo, hi, "int8", out_shape, 3)


def fully_connected_te(x, w, bias, rq_tensors, *, rq: ChannelRequant, zp_in: int, zp_out: int, lo: int, hi: int, out_dtype: str):
    batch, in_c = (int(d) for d in x.shape)
    out_c = int(w.shape[0])
    ric = te.reduce_axis((0, in_c), "ic")
    zp = tirx.const(zp_in, "int32")
    acc = te.compute(
        (batch, out_c),
        lambda b, oc: te.sum((tirx.Cast("int32", x[b, ric]) - zp) * tirx.Cast("int32", w[oc, ric]), axis=[ric]),
        name="fc_acc",
    )
    # LiteRT's reference FULLY_CONNECTED rounds once (measured: double rounding is off by 1 LSB).
    return _epilogue(acc, bias, rq, rq_tensors, zp_out, lo, hi, out_dtype, (batch, out_c), 1, single_rounding=True)


def batch_matmul_te(lhs, rhs, *, adj_x: bool, adj_y: bool, zp_l: int, zp_r: int, multiplier: int, shift: int,
                    zp_out: int, out_shape):
    """TFLite's int8 BatchMatMul: (lhs - zp_l) x (rhs - zp_r) summed over K in int32, requantized,
    offset, clamped; batch dimensions broadcast (right-aligned)."""
    i32 = lambda v: tirx.const(v, "int32")  # noqa: E731
    depth = int(lhs.shape[-2] if adj_x else lhs.shape[-1])
    rk = te.reduce_axis((0, depth), "k")

    def batch_index(t, b):
        shape = [int(d) for d in t.shape[:-2]]
        lead = len(b) - len(shape)
        return [0 if d == 1 else b[lead + k] for k, d in enumerate(shape)]

    def acc_f(*idx):
        b, i, j = idx[:-2], idx[-2], idx[-1]
        lv = lhs[(*batch_index(lhs, b), rk, i)] if adj_x else lhs[(*batch_index(lhs, b), i, rk)]
        rv = rhs[(*batch_index(rhs, b), j, rk)] if adj_y else rhs[(*batch_index(rhs, b), rk, j)]
        return te.sum((tirx.Cast("int32", lv) - i32(zp_l)) * (tirx.Cast("int32", rv) - i32(zp_r)), axis=rk)

    acc = te.compute(out_shape, acc_f, name="batch_matmul_acc")

    def f(*idx):
        v = requantize(acc(*idx), i32(multiplier), i32(shift)) + i32(zp_out)
        return tirx.Cast("int8", tirx.max(tirx.min(v, i32(127)), i32(-128)))

    return te.compute(out_shape, f, name="batch_matmul")


def _broadcast(t, idx):
    """t's element for output index idx under numpy broadcasting (right-aligned, 1 repeats)."""
    shape = [int(d) for d in t.shape]
    lead = len(idx) - len(shape)
    return t[tuple(0 if d == 1 else idx[lead + k] for k, d in enumerate(shape))]


def add_te(a, b, params: dict, out_dtype: str, out_shape, subtract: bool = False):
    """TFLite's int8 AddElementwise / SubElementwise (Broadcast*6DSlow when shapes differ): both
    inputs rescaled to a common 2^20-scaled base."""
    p = {k: tirx.const(v, "int32") for k, v in params.items()}

    def f(*idx):
        sa = requantize((tirx.Cast("int32", _broadcast(a, idx)) - p["zp1"]) * p["one_shl"], p["m1"], p["s1"])
        sb = requantize((tirx.Cast("int32", _broadcast(b, idx)) - p["zp2"]) * p["one_shl"], p["m2"], p["s2"])
        v = requantize(sa - sb if subtract else sa + sb, p["mo"], p["so"]) + p["zpo"]
        return tirx.Cast(out_dtype, tirx.max(tirx.min(v, p["hi"]), p["lo"]))

    return te.compute(out_shape, f, name="sub" if subtract else "add")


def squared_difference_te(a, b, params: dict, out_shape):
    """TFLite's int8 SquaredDifference: both inputs shifted left 7 and rescaled to a common base,
    the difference squared in int32, requantized, offset, clamped."""
    p = {k: tirx.const(v, "int32") for k, v in params.items()}

    def f(*idx):
        sa = requantize((tirx.Cast("int32", _broadcast(a, idx)) - p["zp1"]) * p["one_shl"], p["m1"], p["s1"])
        sb = requantize((tirx.Cast("int32", _broadcast(b, idx)) - p["zp2"]) * p["one_shl"], p["m2"], p["s2"])
        d = sa - sb
        v = requantize(d * d, p["mo"], p["so"]) + p["zpo"]
        return tirx.Cast("int8", tirx.max(tirx.min(v, tirx.const(127, "int32")), tirx.const(-128, "int32")))

    return te.compute(out_shape, f, name="squared_difference")


def mul_te(a, b, zp1: int, zp2: int, multiplier: int, shift: int, zp_out: int, lo: int, hi: int, out_shape):
    """TFLite's int8 MulElementwise: (a - zp1) * (b - zp2) requantized, offset, clamped."""
    i32 = lambda v: tirx.const(v, "int32")  # noqa: E731

    def f(*idx):
        prod = (tirx.Cast("int32", _broadcast(a, idx)) - i32(zp1)) * (tirx.Cast("int32", _broadcast(b, idx)) - i32(zp2))
        v = requantize(prod, i32(multiplier), i32(shift)) + i32(zp_out)
        return tirx.Cast("int8", tirx.max(tirx.min(v, i32(hi)), i32(lo)))

    return te.compute(out_shape, f, name="mul")


def prelu_te(x, alpha, zp_in: int, zp_alpha: int, zp_out: int, identity: tuple[int, int], negative: tuple[int, int]):
    """TFLite's int8 PRELU (BroadcastPrelu4DSlow): x - zp_in rescaled as is when >= 0, else times
    (alpha - zp_alpha) with the second multiplier; offset and clamped to int8."""
    i32 = lambda v: tirx.const(v, "int32")  # noqa: E731

    def f(*idx):
        d = tirx.Cast("int32", x(*idx)) - i32(zp_in)
        a = tirx.Cast("int32", _broadcast(alpha, idx)) - i32(zp_alpha)
        v = tirx.Select(d >= i32(0), requantize(d, i32(identity[0]), i32(identity[1])),
                        requantize(d * a, i32(negative[0]), i32(negative[1]))) + i32(zp_out)
        return tirx.Cast("int8", tirx.max(tirx.min(v, i32(127)), i32(-128)))

    return te.compute(x.shape, f, name="prelu")


def min_max_te(a, b, maximum: bool, out_shape):
    """TFLite's MAXIMUM / MINIMUM on int8 compare the stored values as they are."""
    op = tirx.max if maximum else tirx.min
    return te.compute(out_shape, lambda *idx: op(_broadcast(a, idx), _broadcast(b, idx)),
                      name="maximum" if maximum else "minimum")


def rescale_te(x, zp_in: int, zp_out: int, lo: int, hi: int, identity: tuple[int, int],
               negative: tuple[int, int] | None = None, absolute: bool = False):
    """zp_out + requantize(x - zp_in) clamped to [lo, hi]: TFLite's ReluX, Requantize (QUANTIZE
    int8 -> int8), with a second (multiplier, shift) for x < zp_in QuantizeLeakyRelu, and with
    |x - zp_in| the int8 ABS."""
    i32 = lambda v: tirx.const(v, "int32")  # noqa: E731

    def f(*idx):
        d = tirx.Cast("int32", x(*idx)) - i32(zp_in)
        if absolute:
            d = tirx.max(d, i32(0) - d)
        v = requantize(d, i32(identity[0]), i32(identity[1]))
        if negative is not None:
            v = tirx.Select(d >= i32(0), v, requantize(d, i32(negative[0]), i32(negative[1])))
        v = v + i32(zp_out)
        return tirx.Cast("int8", tirx.max(tirx.min(v, i32(hi)), i32(lo)))

    return te.compute(x.shape, f, name="rescale")


def softmax_te(x, multiplier: int, left_shift: int, diff_min: int):
    """int8 softmax over the last axis, TFLite's reference integer kernel (no float anywhere):
    row max, exps of the differences summed in Q12.19, each exp times the sum's reciprocal."""
    shape = list(x.shape)
    depth = int(shape[-1])
    i32 = lambda v: tirx.const(v, "int32")  # noqa: E731
    rmax = te.reduce_axis((0, depth), "c")
    row_max = te.compute(shape[:-1], lambda *i: te.max(x[(*i, rmax)], axis=rmax), name="row_max")

    def exp_at(*idx):
        diff = tirx.Cast("int32", x[idx]) - tirx.Cast("int32", row_max[idx[:-1]])
        return c_helpers.call("int32", "softmax_exp", diff, i32(multiplier), i32(left_shift), i32(diff_min))

    rsum = te.reduce_axis((0, depth), "c")
    # gemmlowp::Rescale<12> of each Q0.31 exp: a rounding shift right by 12.
    total = te.compute(shape[:-1], lambda *i: te.sum(
        c_helpers.call("int32", "rdbpot", exp_at(*i, rsum), i32(12)), axis=rsum), name="sum_of_exps")
    return te.compute(shape, lambda *idx: tirx.Cast(
        "int8", c_helpers.call("int32", "softmax_out", exp_at(*idx), total[idx[:-1]])), name="softmax")


def _reduction(x, axes: list[int], keep_dims: bool, body, name: str):
    """te.compute of body(element) reduced over `axes` (body gets x at the reduced position)."""
    shape = [int(d) for d in x.shape]
    reduce = {a: te.reduce_axis((0, shape[a]), f"r{a}") for a in axes}
    kept = [a for a in range(len(shape)) if a not in reduce]
    out_shape = [1 if a in reduce else shape[a] for a in range(len(shape))] if keep_dims else [shape[a] for a in kept]

    def source_index(idx):
        it = iter(idx) if not keep_dims else None
        return tuple(reduce[a] if a in reduce else (idx[a] if keep_dims else next(it)) for a in range(len(shape)))

    return te.compute(out_shape, lambda *idx: body(x[source_index(idx)], list(reduce.values())), name=name)


def mean_te(x, axes: list[int], keep_dims: bool, multiplier: int, shift: int, zp_in: int, zp_out: int):
    """int8 MEAN over `axes`: the sum of (x - zp_in), requantized once by (in/out scale)/count."""
    acc = _reduction(x, axes, keep_dims, lambda v, ax: te.sum(tirx.Cast("int32", v) - tirx.const(zp_in, "int32"), axis=ax),
                     "mean_acc")
    out_shape = [int(d) for d in acc.shape]

    def f(*idx):
        v = requantize(acc(*idx), tirx.const(multiplier, "int32"), tirx.const(shift, "int32")) + tirx.const(zp_out, "int32")
        return tirx.Cast("int8", tirx.max(tirx.min(v, tirx.const(127, "int32")), tirx.const(-128, "int32")))

    return te.compute(out_shape, f, name="mean")


def reduce_max_min_te(x, axes: list[int], keep_dims: bool, maximum: bool):
    """TFLite's int8 REDUCE_MAX / REDUCE_MIN compare the stored values."""
    op = te.max if maximum else te.min
    return _reduction(x, axes, keep_dims, lambda v, ax: op(v, axis=ax), "reduce_max" if maximum else "reduce_min")


def resize_nearest_indices(in_size: int, out_size: int, align_corners: bool, half_pixel_centers: bool) -> np.ndarray:
    """TFLite's GetNearestNeighbor for every output position, in its float32 arithmetic."""
    if align_corners and out_size > 1:
        scale = np.float32(in_size - 1) / np.float32(out_size - 1)
    else:
        scale = np.float32(in_size) / np.float32(out_size)
    pos = (np.arange(out_size, dtype=np.float32) + np.float32(0.5 if half_pixel_centers else 0.0)) * scale
    pos = pos.astype(np.float32)
    idx = np.sign(pos) * np.floor(np.abs(pos) + np.float32(0.5)) if align_corners else np.floor(pos)
    idx = np.minimum(idx.astype(np.int64), in_size - 1)
    return np.maximum(idx, 0).astype(np.int32) if half_pixel_centers else idx.astype(np.int32)


def resize_nearest_te(x, rows, cols, out_shape):
    """NHWC nearest-neighbour resize through per-row and per-column source tables."""
    return te.compute(out_shape, lambda n, y, x_, c: x[n, rows[y], cols[x_], c], name="resize_nearest")


def space_to_batch_te(x, block, pads, pad_value, out_shape):
    """TFLite's SpaceToBatchND (NHWC): output batch (shift_h * bw + shift_w) * B + b holds the
    padded input's pixels at (oy * bh + shift_h, ox * bw + shift_w); padding reads pad_value."""
    batch, in_h, in_w = (int(d) for d in x.shape[:3])
    (bh, bw), ((pt, _), (pl, _)) = block, pads

    def f(ob, oy, ox, c):
        b = tirx.truncmod(ob, batch)
        shift_w = tirx.truncmod(tirx.truncdiv(ob, batch), bw)
        shift_h = tirx.truncdiv(tirx.truncdiv(ob, batch), bw)
        iy = oy * bh + shift_h - pt
        ix = ox * bw + shift_w - pl
        inside = tirx.all(iy >= 0, iy < in_h, ix >= 0, ix < in_w)
        return tirx.if_then_else(inside, x[b, iy, ix, c], tirx.const(pad_value, x.dtype))

    return te.compute(out_shape, f, name="space_to_batch")


def batch_to_space_te(x, block, crops, out_shape):
    """TFLite's BatchToSpaceND (NHWC), the inverse: output (oy, ox) of batch b comes from input
    batch (shift_h * bw + shift_w) * B_out + b at ((oy + crop_top) / bh, (ox + crop_left) / bw)."""
    (bh, bw), ((ct, _), (cl, _)) = block, crops
    out_batch = int(out_shape[0])

    def f(b, oy, ox, c):
        y, x_ = oy + ct, ox + cl
        ib = (tirx.truncmod(y, bh) * bw + tirx.truncmod(x_, bw)) * out_batch + b
        return x[ib, tirx.truncdiv(y, bh), tirx.truncdiv(x_, bw), c]

    return te.compute(out_shape, f, name="batch_to_space")


def quantize_float_te(x, scale: float, zero_point: int):
    """TFLite's AffineQuantize (float -> int8) by the C helper: TVM's quantize rounds halves to
    even, TFLite away from zero."""
    return te.compute(x.shape, lambda *i: tirx.Cast("int8", c_helpers.call(
        "int32", "quantize_f32_int8", x(*i), tirx.const(scale, "float32"), tirx.const(zero_point, "int32"))),
        name="quantize")


def arg_max_min_te(x, positions, axis: int, maximum: bool, out_dtype: str):
    """TFLite's ArgMinMax: the first index of the largest (smallest) value along `axis`, in the
    output's type: the extreme value, then the smallest position holding it. Positions come from
    a table (0, 1, ...): computed from the loop variable they would be int64 (call_te's index
    type), as TVM's own argmax is."""
    shape = [int(d) for d in x.shape]
    out_shape = shape[:axis] + shape[axis + 1:]
    at = lambda idx, r: x[(*idx[:axis], r, *idx[axis:])]  # noqa: E731
    r1 = te.reduce_axis((0, shape[axis]), "r")
    extreme = te.compute(out_shape, lambda *i: (te.max if maximum else te.min)(at(i, r1), axis=r1), name="extreme")
    r2 = te.reduce_axis((0, shape[axis]), "r")
    first = te.compute(out_shape, lambda *i: te.min(tirx.Select(
        at(i, r2) == extreme(*i), positions[r2], tirx.const(shape[axis], "int32")), axis=r2), name="first")
    return te.compute(out_shape, lambda *i: tirx.Cast(out_dtype, first(*i)), name="arg_index")


def lut_te(x, table):
    """out = table[x + 128]: an int8 -> int8 function of one byte, tabulated at compile time."""
    return te.compute(x.shape, lambda *i: table[tirx.Cast("int32", x(*i)) + tirx.const(128, "int32")], name="lut")
