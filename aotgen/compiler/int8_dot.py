"""int8 dot products with the Arm DSP extension (SMLAD), for convolution and fully connected loops.

A quantized MAC loop `acc += (x[i] + offset) * w[i]` costs two byte loads, an add and a
multiply-accumulate per element. On cores with the DSP extension (Cortex-M4/M7/M33/M55) the C
helper below (GNU C: gcc, clang, armclang) does four elements with two word loads, four SXTB16
(bytes to 16-bit lanes), two SADD16 (the offset) and two SMLAD (two 16x16 MACs each), as
CMSIS-NN does; elsewhere, and for the tail, it is the plain loop. Integer sums are exact in any order, so results are unchanged.

`use_dot_helper` rewrites such innermost loops in a kernel's TIR into a call of the helper; it
runs only for DSP targets (cores without DSP gain nothing from the call, and AVR's weights live
in another address space). LLVM-built kernels get the same helper as inlined IR
(llvm_helpers.py).
"""

from __future__ import annotations

import tvm.sym
from tvm import tirx
from tvm.ir.expr import TensorLoad  # what tirx.BufferLoad builds in TVM 0.27

from . import c_helpers
from .tir_rewrite import accumulation, rebuild_stmt

# Loops shorter than this stay inline: the call and the tail cost more than they save.
MIN_LENGTH = 8


def _int8_load(e) -> TensorLoad | None:
    if isinstance(e, tirx.Cast) and str(e.ty) == "int32" and isinstance(e.value, TensorLoad) \
            and str(e.value.ty) == "int8" and len(e.value.indices) == 1:
        return e.value
    return None


def _offset_load(e) -> tuple[TensorLoad, int] | None:
    """`(int32)x[i] + c`, `(int32)x[i] - c` or `(int32)x[i]` as (load, offset)."""
    if isinstance(e, (tirx.Add, tirx.Sub)) and isinstance(e.b, tirx.IntImm):
        load = _int8_load(e.a)
        if load is not None:
            return load, e.b.value if isinstance(e, tirx.Add) else -e.b.value
    load = _int8_load(e)
    return (load, 0) if load is not None else None


def _unit_stride_base(load: TensorLoad, var: tirx.Var):
    coef = tvm.sym.detect_linear_equation(load.indices[0], [var])
    if len(coef) == 2 and isinstance(coef[0], tirx.IntImm) and coef[0].value == 1:
        return coef[1]
    return None


def _dot_call(loop: tirx.For):
    """The loop as `acc = acc + dot_s8(&x[base], &w[base], n, offset)`, or None if it is not an
    int8 MAC loop over unit-stride data."""
    if not (isinstance(loop.extent, tirx.IntImm) and loop.extent.value >= MIN_LENGTH
            and isinstance(loop.min, tirx.IntImm) and loop.min.value == 0):
        return None
    accumulated = accumulation(loop)
    if accumulated is None or not isinstance(accumulated[1], tirx.Mul):
        return None
    store, product = accumulated
    for xs, ws in ((product.a, product.b), (product.b, product.a)):
        x, w = _offset_load(xs), _int8_load(ws)
        if x is None or w is None or abs(x[1]) > 128:
            continue
        (x_load, offset) = x
        x_base, w_base = _unit_stride_base(x_load, loop.loop_var), _unit_stride_base(w, loop.loop_var)
        if x_base is None or w_base is None:
            continue
        call = c_helpers.call("int32", "dot_s8", tirx.address_of(tirx.BufferLoad(x_load.source, [x_base])),
                              tirx.address_of(tirx.BufferLoad(w.source, [w_base])), loop.extent,
                              tirx.IntImm("int32", offset))
        return tirx.BufferStore(store.buffer, store.value.a + call, store.indices)
    return None


def use_dot_helper(s):
    """`s` with every innermost int8 MAC loop replaced by a dot_s8 call."""
    s = rebuild_stmt(s, use_dot_helper)
    if isinstance(s, tirx.For) and s.kind == tirx.ForKind.SERIAL:
        call = _dot_call(s)
        if call is not None:
            return call
    return s
