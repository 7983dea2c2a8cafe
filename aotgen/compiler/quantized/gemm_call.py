"""int8 CONV_2D as one call of the C GEMM kernel (runtime/aotgen_conv_gemm_s8.h) on cores with the DSP
extension: the kernel's constants are prepared here at compile time (conv_gemm.py: weights as
[out_channel][K] rows interleaved per channel pair, the bias in 16 bits where it fits, the fast
requantization's bound), and the int16 rows of three pixels (widened input or im2col) are a
scratch tensor the planner places in the arena."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar

import numpy as np
from tvm import relax, te, tirx

from .. import c_helpers
from ..conv_gemm import DEPTHWISE_MAX_TAPS, depthwise_constants, depthwise_scratch_bytes, gemm_constants
from .params import fold_constant_channels

_enabled: ContextVar[bool] = ContextVar("aotgen_gemm_kernels", default=False)


@contextlib.contextmanager
def switched(switch: ContextVar[bool], enabled: bool) -> Iterator[None]:
    """`switch` set to `enabled` inside this block (a kernel choice made while importing)."""
    token = switch.set(enabled)
    try:
        yield
    finally:
        switch.reset(token)


def gemm_kernels(enabled: bool) -> contextlib.AbstractContextManager[None]:
    """Convolutions imported inside this block call the GEMM kernel when `enabled` (DSP cores)."""
    return switched(_enabled, enabled)


def gemm_enabled() -> bool:
    return _enabled.get()


def conv_constants(w: np.ndarray, bias: np.ndarray, mult: np.ndarray, shift: np.ndarray):
    """conv_gemm.GemmConstants of a layer (weights [O][kp] int8, stored bias, requantization table).
    Constant (pruned) channels first take the live channels' shift (params.fold_constant_channels):
    their extreme shifts would otherwise keep the table unpacked and the fast requantization off."""
    bias, mult, shift = fold_constant_channels(w, 0, bias, mult, shift)
    return gemm_constants(w, bias, mult, shift)


def _ptr(buf):
    return tirx.address_of(tirx.BufferLoad(buf, [tirx.const(0, "int32")] * len(buf.shape)))


def conv_gemm_te(x, w, bias, rq, *, kernel_hw, strides, dilation, pads, zp_in: int, zp_out: int, lo: int,
                 hi: int, out_shape, rq_step: int, shift_base: int, fast: int, scratch_bytes: int, pointwise: bool):
    """The convolution as a `te.extern` whose body calls <prefix>_conv_gemm_1x1_s8 (`pointwise`) or
    <prefix>_conv_gemm_s8; the three int16 rows are an allocation the lowering lifts into an arena
    scratch tensor (kernels._lift_scratch)."""
    _, in_h, in_w, in_c = (int(d) for d in x.shape)
    c_out, kp = (int(d) for d in w.shape)
    kh, kw = kernel_hw
    out_h, out_w = int(out_shape[1]), int(out_shape[2])
    i32 = lambda v: tirx.const(int(v), "int32")  # noqa: E731

    def body(ins, outs):
        scratch = tirx.decl_buffer((scratch_bytes,), "int8", name="rows")
        tail = (_ptr(ins[1]), i32(c_out), i32(kp), _ptr(ins[2]), i32(bias.dtype == "int16"), _ptr(ins[3]), i32(rq_step),
                i32(shift_base), i32(fast), i32(zp_out), i32(lo), i32(hi), _ptr(outs[0]),
                scratch.access_ptr("rw"))  # the whole buffer: keeps its size through compaction
        if pointwise:
            call = c_helpers.call_kernel("conv_gemm_1x1_s8", _ptr(ins[0]), i32(in_h * in_w), i32(in_c), i32(zp_in),
                                         *tail)
        else:
            call = c_helpers.call_kernel(
                "conv_gemm_s8", _ptr(ins[0]), i32(in_h), i32(in_w), i32(in_c), i32(kh), i32(kw),
                i32(strides[0]), i32(strides[1]), i32(dilation[0]), i32(dilation[1]), i32(pads[0]), i32(pads[1]),
                i32(out_h), i32(out_w), i32(zp_in), *tail)
        return tirx.SeqStmt([tirx.AllocBuffer(scratch), tirx.Evaluate(call)])

    # Buffers with a fixed zero offset (te.extern's defaults carry a free elem_offset variable).
    ins = [tirx.decl_buffer(t.shape, t.dtype, name=f"in{i}") for i, t in enumerate((x, w, bias, rq))]
    out = tirx.decl_buffer(list(out_shape), "int8", name="out")
    return te.extern([list(out_shape)], [x, w, bias, rq], body, name="conv_gemm", dtype="int8",
                     in_buffers=ins, out_buffers=[out])


def conv_gemm_call(bb, x, w: np.ndarray, bias: np.ndarray, zp_in: int, zp_out: int, lo: int, hi: int, requant,
                   out_shape, **geometry):
    """CONV_2D through the GEMM kernel, constants prepared at compile time."""
    c = conv_constants(w, bias, *requant)
    kh, kw, c_in = (int(d) for d in w.shape[1:])
    pointwise = (kh, kw) == (1, 1) and tuple(geometry["strides"]) == (1, 1) and tuple(geometry["pads"]) == (0, 0)
    scratch = c.scratch_bytes(kh * kw * c_in, gathers_bytes=not pointwise and c_in % 4 != 0)
    return bb.call_te(
        lambda x_, w_, b_, r_: conv_gemm_te(
            x_, w_, b_, r_, kernel_hw=(kh, kw), zp_in=zp_in, zp_out=zp_out, lo=lo, hi=hi, out_shape=out_shape,
            rq_step=c.rq_step, shift_base=c.shift_base, fast=c.fast, scratch_bytes=scratch, pointwise=pointwise,
            **geometry),
        x, relax.const(c.weights), relax.const(c.bias), relax.const(c.rq), primfunc_name_hint="conv2d_gemm_int8")


def depthwise_fits(kernel_hw) -> bool:
    """Whether a depthwise window fits the DSP kernel's tap list."""
    return kernel_hw[0] * kernel_hw[1] <= DEPTHWISE_MAX_TAPS


def depthwise_call(bb, x, w: np.ndarray, bias: np.ndarray, zp_in: int, zp_out: int, lo: int, hi: int, requant,
                   out_shape, *, strides, dilation, pads):
    """DEPTHWISE_CONV_2D (multiplier 1) through runtime/aotgen_depthwise_s8.h, constants prepared at
    compile time; a row of the input zero point (and the biases with it folded, where the kernel
    folds them) are arena scratch, filled on every call."""
    bias, mult, shift = fold_constant_channels(w, 3, bias, *requant)  # as conv_constants
    c = depthwise_constants(w, bias, -zp_in, mult, shift)
    kh, kw, ch = (int(d) for d in w.shape[1:])
    out_h, out_w = int(out_shape[1]), int(out_shape[2])
    i32 = lambda v: tirx.const(int(v), "int32")  # noqa: E731

    def te_call(x_, w_, b_, r_):
        _, in_h, in_w, _ = (int(d) for d in x_.shape)

        def body(ins, outs):
            scratch = tirx.decl_buffer((depthwise_scratch_bytes(ch, c.bias_form != 0),), "int8", name="scratch")
            call = c_helpers.call_kernel(
                "depthwise_s8", _ptr(ins[0]), i32(in_h), i32(in_w), i32(ch), i32(kh), i32(kw), i32(strides[0]),
                i32(strides[1]), i32(dilation[0]), i32(dilation[1]), i32(pads[0]), i32(pads[1]), i32(out_h),
                i32(out_w), i32(zp_in), _ptr(ins[1]), _ptr(ins[2]), i32(c.bias_form), _ptr(ins[3]), i32(c.rq_step),
                i32(c.shift_base), i32(c.fast), i32(zp_out), i32(lo), i32(hi), _ptr(outs[0]), scratch.access_ptr("rw"))
            return tirx.SeqStmt([tirx.AllocBuffer(scratch), tirx.Evaluate(call)])

        ins = [tirx.decl_buffer(t.shape, t.dtype, name=f"in{i}") for i, t in enumerate((x_, w_, b_, r_))]
        out = tirx.decl_buffer(list(out_shape), "int8", name="out")
        return te.extern([list(out_shape)], [x_, w_, b_, r_], body, name="depthwise", dtype="int8", in_buffers=ins,
                         out_buffers=[out])

    return bb.call_te(te_call, x, relax.const(c.weights), relax.const(c.bias), relax.const(c.rq),
                      primfunc_name_hint="depthwise_conv_int8")
