"""Relax -> fused TIR kernels and a flat call graph (aotgen.graph.Graph).

The Relax pass list is ours (see `relax_pipeline`); after it, `main` is a flat sequence of
bindings: kernel calls in destination-passing style, alloc_tensors, views/reshapes, aliases,
tuples and inline constants. `extract_graph` walks those into our own Graph.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import tvm
from tvm import relax, te, tirx

from ..errors import UnsupportedModelError
from .graph import Graph, KernelCall, TensorKind
from .kernels import LoweredKernel, lower_kernel
from .qdq import rewrite_qdq


def _legalize_integer_avg_pool2d(bb: relax.BlockBuilder, call: relax.Call) -> relax.Expr:
    """Integer average pooling with TFLite's rounding (half away from zero), all in int32.

    TOPI divides integer sums in int64 and truncates; TFLite rounds to nearest.
    """
    data = call.args[0]
    dtype = str(data.ty.dtype)
    if not dtype.startswith(("int", "uint")):
        default = tvm.ir.Op.get("relax.nn.avg_pool2d").get_attr("FLegalize")
        return default(bb, call)
    attrs = call.attrs
    layout = str(attrs.layout)
    if str(attrs.out_layout) != layout or int(attrs.dilation[0]) != 1 or int(attrs.dilation[1]) != 1:
        raise UnsupportedModelError("integer AVERAGE_POOL_2D with dilation or a layout change")
    h_axis, w_axis = layout.index("H"), layout.index("W")
    kh, kw = (int(v) for v in attrs.pool_size)
    sh, sw = (int(v) for v in attrs.strides)
    pad_top, pad_left, pad_bottom, pad_right = (int(v) for v in attrs.padding)
    count_include_pad = bool(attrs.count_include_pad)
    out_shape = [int(v) for v in call.ty.shape]
    in_shape = [int(v) for v in data.ty.shape]

    # Divisors per output position, precomputed: index arithmetic in the kernel would be int64
    # (Relax shapes are int64) and drag the division into 64 bits.
    oh, ow = out_shape[h_axis], out_shape[w_axis]
    counts = np.empty((oh, ow), dtype="int32")
    for y in range(oh):
        for x_ in range(ow):
            if count_include_pad:
                counts[y, x_] = kh * kw
            else:
                h0, w0 = y * sh - pad_top, x_ * sw - pad_left
                hs = min(h0 + kh, in_shape[h_axis]) - max(h0, 0)
                ws = min(w0 + kw, in_shape[w_axis]) - max(w0, 0)
                counts[y, x_] = max(hs * ws, 1)

    uniform = bool((counts == counts.flat[0]).all())  # no padding overlap: one divisor, an immediate

    def pool(x, count=None):
        rh = te.reduce_axis((0, kh), "rh")
        rw = te.reduce_axis((0, kw), "rw")

        def window_sum(*idx):
            ih = idx[h_axis] * sh + rh - pad_top
            iw = idx[w_axis] * sw + rw - pad_left
            inside = tirx.all(ih >= 0, ih < in_shape[h_axis], iw >= 0, iw < in_shape[w_axis])
            src = list(idx)
            src[h_axis], src[w_axis] = ih, iw
            value = tirx.if_then_else(inside, tirx.Cast("int32", x(*src)), tirx.const(0, "int32"))
            return te.sum(value, axis=[rh, rw])

        total = te.compute(out_shape, window_sum, name="pool_sum")

        def average(*idx):
            n = tirx.const(int(counts.flat[0]), "int32") if uniform else count(idx[h_axis], idx[w_axis])
            s = total(*idx)
            half = tirx.truncdiv(n, tirx.const(2, "int32"))
            # +half for s >= 0, -half below, branch-free: call_te's int64 index normalization
            # would otherwise widen a comparison of s with 0 to int64.
            neg = tirx.shift_right(s, tirx.const(31, "int32"))  # -1 if s < 0, else 0
            rounded = tirx.truncdiv(s + tirx.bitwise_xor(half, neg) - neg, n)
            return tirx.Cast(dtype, rounded)

        return te.compute(out_shape, average, name="pool_avg")

    if uniform:
        return bb.call_te(pool, data, primfunc_name_hint="avg_pool2d_int")
    return bb.call_te(pool, data, relax.const(counts), primfunc_name_hint="avg_pool2d_int")


# Operators whose default legalization emits code we cannot use on an MCU.
CUSTOM_LEGALIZATION = {"relax.nn.avg_pool2d": _legalize_integer_avg_pool2d}


def relax_pipeline() -> tvm.transform.Pass:
    return tvm.transform.Sequential(
        [
            tvm.transform.module_pass(lambda mod, _ctx: rewrite_qdq(mod), opt_level=0, name="RewriteQDQ"),
            relax.transform.DecomposeOpsForInference(),
            relax.transform.LegalizeOps(CUSTOM_LEGALIZATION),
            relax.transform.AnnotateTIROpPattern(),
            relax.transform.FoldConstant(),
            relax.transform.FuseOps(),
            relax.transform.FuseTIR(),
            relax.transform.RewriteDataflowReshape(),
            # After RewriteDataflowReshape, or dead reshape kernels stay.
            relax.transform.DeadCodeElimination(),
            relax.transform.ToNonDataflow(),
            relax.transform.RemovePurityChecking(),
            relax.transform.CallTIRRewrite(),
        ]
    )


@dataclass
class LoweredModel:
    graph: Graph
    kernels: list[LoweredKernel]
    lowered_ir: str  # the Relax main after our pipeline, for the MLF's ir/ folder


_ALLOC_OPS = {"relax.builtin.alloc_tensor", "relax.memory.alloc_tensor"}
_VIEW_OPS = {"relax.reshape", "relax.memory.view", "relax.memory.ensure_zero_offset"}


def _shape_dtype(sinfo) -> tuple[tuple[int, ...], str]:
    if not isinstance(sinfo, relax.TensorType) or sinfo.shape is None:
        raise UnsupportedModelError(f"a tensor of unknown shape ({sinfo}); aotgen needs static shapes")
    try:
        shape = tuple(int(d) for d in sinfo.shape.values)
    except (TypeError, ValueError):
        raise UnsupportedModelError(f"a tensor of dynamic shape {sinfo.shape}; aotgen needs static shapes") from None
    return shape, str(sinfo.dtype)


class _GraphBuilder:
    """Walks the bindings of the lowered `main` and records tensors and calls."""

    def __init__(self, mod: tvm.IRModule, prefix: str, target: tvm.target.Target):
        self.mod = mod
        self.prefix = prefix
        self.target = target
        self.graph = Graph()
        self.value: dict = {}  # relax Var -> tensor id, or a tuple of them
        self.constants: list[tuple[tvm.ir.GenericConst, int]] = []
        self.kernels: dict[str, LoweredKernel] = {}

    def constant(self, const: tvm.ir.GenericConst) -> int:
        for c, tid in self.constants:
            if c.same_as(const):
                return tid
        data = const.value.numpy()
        t = self.graph.add(f"const{len(self.constants)}", data.shape, str(data.dtype), TensorKind.CONSTANT, data)
        self.constants.append((const, t.id))
        return t.id

    def lookup(self, expr):
        if isinstance(expr, relax.Var):
            return self.value[expr]
        if isinstance(expr, tvm.ir.GenericConst):
            return self.constant(expr)
        if isinstance(expr, relax.Tuple):
            return tuple(self.lookup(f) for f in expr.fields)
        if isinstance(expr, relax.TupleGetItem):
            return self.lookup(expr.tuple_value)[expr.index]
        raise UnsupportedModelError(f"unexpected expression in the lowered graph: {type(expr).__name__}")

    def kernel(self, gvar: tvm.ir.GlobalVar) -> LoweredKernel:
        name = gvar.name_hint
        if name not in self.kernels:
            symbol = f"{self.prefix}_{name}"
            self.kernels[name] = lower_kernel(self.mod[gvar], symbol, self.target)
        return self.kernels[name]

    def bind(self, var: relax.Var, value) -> None:
        if isinstance(value, relax.Call):
            op = value.op
            if isinstance(op, tvm.ir.GlobalVar):
                self.call_kernel(op, value.args)
                return  # destination-passing: the call's own result is unused
            op_name = op.name if isinstance(op, tvm.ir.Op) else str(op)
            if op_name in _ALLOC_OPS:
                shape, dtype = _shape_dtype(var.ty)
                t = self.graph.add(var.name, shape, dtype, TensorKind.INTERMEDIATE)
                self.value[var] = t.id
                return
            if op_name in _VIEW_OPS:
                # A view shares storage with its source; shapes live only in the kernels.
                self.value[var] = self.lookup(value.args[0])
                return
            raise UnsupportedModelError(f"operator {op_name} survived lowering; it has no C kernel")
        self.value[var] = self.lookup(value)

    def call_kernel(self, gvar: tvm.ir.GlobalVar, args) -> None:
        k = self.kernel(gvar)
        ids, read_only = [], []
        for a in args:
            tid = self.lookup(a)
            if isinstance(tid, tuple):
                raise UnsupportedModelError("a tuple passed to a kernel")
            ids.append(tid)
            # Destination-passing: a kernel's outputs are the allocated tensors not yet written.
            is_output = self.graph.tensors[tid].kind == TensorKind.INTERMEDIATE and tid not in self.written
            read_only.append(not is_output)
        self.written.update(t for t, ro in zip(ids, read_only) if not ro)
        for s in k.scratch:
            t = self.graph.add(f"{k.symbol}.{s.name}", s.shape, s.dtype, TensorKind.SCRATCH)
            ids.append(t.id)
            read_only.append(False)
        self.graph.calls.append(KernelCall(k.symbol, ids, read_only))

    def build(self) -> Graph:
        main = self.mod["main"]
        self.written: set[int] = set()
        for i, p in enumerate(main.params):
            shape, dtype = _shape_dtype(p.ty)
            t = self.graph.add(p.name, shape, dtype, TensorKind.INPUT)
            t.io_index = i
            self.value[p] = t.id
            self.graph.inputs.append(t.id)
        body = main.body
        for block in body.blocks:
            for b in block.bindings:
                if isinstance(b, relax.MatchCast):
                    self.value[b.var] = self.lookup(b.value)
                else:
                    self.bind(b.var, b.value)
        result = self.lookup(body.body)
        outputs = list(result) if isinstance(result, tuple) else [result]
        self.mark_outputs(outputs)
        return self.graph

    def mark_outputs(self, outputs: list[int]) -> None:
        for i, tid in enumerate(outputs):
            t = self.graph.tensors[tid]
            if t.kind == TensorKind.INTERMEDIATE and t.io_index is None:
                t.kind = TensorKind.OUTPUT
                t.io_index = i
                self.graph.outputs.append(tid)
            else:
                # The output is an input, a constant or another output: copy it into place.
                out = self.graph.add(f"output{i}", t.shape, t.dtype, TensorKind.OUTPUT)
                out.io_index = i
                self.graph.calls.append(KernelCall("", [tid, out.id], [True, False]))
                self.graph.outputs.append(out.id)


def lower(mod: tvm.IRModule, prefix: str, target: tvm.target.Target) -> LoweredModel:
    mod = relax_pipeline()(mod)
    builder = _GraphBuilder(mod, prefix, target)
    graph = builder.build()
    return LoweredModel(graph, list(builder.kernels.values()), mod["main"].script(show_meta=False))
