"""int8 FULLY_CONNECTED as one call of the C kernel aotgen_fc_s8 (runtime/aotgen_fc_s8.h), on every
core: the weights reordered here at compile time into the kernel's 4-row blocks (the same bytes),
the bias and requantization tables as requant_tables stores them, the fast requantization chosen
where its bound holds, and on DSP cores the widened input row as an arena scratch tensor."""

from __future__ import annotations

import contextlib
from contextvars import ContextVar

import numpy as np
from tvm import relax, te, tirx

from .. import c_helpers
from ..conv_gemm import fast_requantize_holds
from .gemm_call import gemm_enabled, switched
from .params import ChannelRequant
from .te_kernels import fully_connected_te

_enabled: ContextVar[bool] = ContextVar("aotgen_c_kernels", default=True)


def c_kernels(enabled: bool) -> contextlib.AbstractContextManager[None]:
    """FC and elementwise layers imported inside this block call the C kernels when `enabled`: not
    where weights live in another address space (AVR's __flash), which plain pointers cannot read."""
    return switched(_enabled, enabled)


def c_kernels_enabled() -> bool:
    return _enabled.get()


def interleave_rows(w: np.ndarray) -> np.ndarray:
    """[n_out][K] int8 rows in the kernel's order: each block of 4 rows as K//4 groups of 16 bytes
    (4 bytes of each row), then the 4 rows' last K%4 bytes; the last n_out%4 rows unchanged."""
    n_out, k = w.shape
    k4, blocks = k - k % 4, n_out // 4
    parts = []
    for b in range(blocks):
        rows = w[4 * b:4 * b + 4]
        parts.append(rows[:, :k4].reshape(4, k4 // 4, 4).transpose(1, 0, 2).ravel())
        parts.append(rows[:, k4:].ravel())
    parts.append(w[4 * blocks:].ravel())
    return np.ascontiguousarray(np.concatenate(parts).astype(np.int8))


def fc_te(x, w, bias, rq_tensors, *, rq: ChannelRequant, fast: bool, widen: bool, zp_in: int, zp_out: int, lo: int,
          hi: int):
    """The layer as a `te.extern` calling <prefix>_fc_s8; the widened row (DSP cores) is an
    allocation the lowering lifts into an arena scratch tensor (kernels._lift_scratch)."""
    batches, k = (int(d) for d in x.shape)
    n_out = int(bias.shape[0])
    i32 = lambda v: tirx.const(int(v), "int32")  # noqa: E731
    mode, m0, s0 = rq.c_args()

    def body(ins, outs):
        words = ins[3].data if rq_tensors else ins[1].data  # unused tables: any valid pointer
        shifts = ins[4].data if len(rq_tensors) > 1 else ins[1].data
        stmts = []
        if widen:
            scratch = tirx.decl_buffer(((k + 1) // 2,), "int32", name="widened")
            stmts.append(tirx.AllocBuffer(scratch))
            scratch_ptr = scratch.access_ptr("rw")  # the whole buffer: keeps its size through compaction
        else:
            scratch_ptr = outs[0].data  # never read
        stmts.append(tirx.Evaluate(c_helpers.call_kernel(
            "fc_s8", ins[0].data, i32(batches), i32(k), ins[1].data, i32(n_out), ins[2].data,
            i32(str(bias.dtype) == "int16"), i32(mode), words, shifts, i32(m0), i32(s0), i32(fast), i32(zp_in),
            i32(zp_out), i32(lo), i32(hi), outs[0].data, scratch_ptr, i32(widen))))
        return tirx.SeqStmt(stmts) if len(stmts) > 1 else stmts[0]

    ins = [tirx.decl_buffer(t.shape, t.dtype, name=f"in{i}") for i, t in enumerate((x, w, bias, *rq_tensors))]
    out = tirx.decl_buffer((batches, n_out), "int8", name="out")
    return te.extern([(batches, n_out)], [x, w, bias, *rq_tensors], body, name="fully_connected", dtype="int8",
                     in_buffers=ins, out_buffers=[out])


def fc_call(bb, x, w: np.ndarray, bias: np.ndarray, rq: ChannelRequant, zp_in: int, zp_out: int, lo: int, hi: int):
    """FULLY_CONNECTED through the C kernel, on `bias` and `rq` as requant_tables stores them (the
    TE kernel where C kernels are off)."""
    if not c_kernels_enabled():
        return bb.call_te(
            lambda x_, w_, b_, *r_: fully_connected_te(x_, w_, b_, r_, rq=rq, zp_in=zp_in, zp_out=zp_out, lo=lo, hi=hi,
                                                       out_dtype="int8"),
            x, relax.const(w), relax.const(bias), *map(relax.const, rq.tensors), primfunc_name_hint="fully_connected_int8")
    fast = fast_requantize_holds(w, bias, rq.shift)
    k = int(w.shape[1])
    widen = gemm_enabled() and k >= 4
    return bb.call_te(
        lambda x_, w_, b_, *r_: fc_te(x_, w_, b_, r_, rq=rq, fast=fast, widen=widen, zp_in=zp_in, zp_out=zp_out,
                                      lo=lo, hi=hi),
        x, relax.const(interleave_rows(w)), relax.const(bias), *map(relax.const, rq.tensors),
        primfunc_name_hint="fully_connected_int8")
