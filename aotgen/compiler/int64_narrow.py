"""int64 out of an imported ONNX model: the generated C has no 64-bit integers.

ONNX types shapes, indices and ArgMax results int64. Constant shapes and indices are folded at
compile time and narrowed to int32 here (refused if a value does not fit); ArgMax/ArgMin get an
int32 kernel of their own (Relax's argmax is int64 by definition); Shape and Size outputs become
int32 constants. A model output the model types int64 is therefore int32 in the C; the header
says so (tensors.TensorInfo.model_dtype) and comparisons cast. Model inputs of int64 are refused
before import (onnx_import.py).
"""

from __future__ import annotations

import numpy as np
import tvm
from tvm import relax, te, tirx
from tvm.relax.expr_functor import PyExprMutator, mutator

from ..errors import UnsupportedModelError

_INT32 = np.iinfo(np.int32)


def _int32_const(data: np.ndarray, what: str) -> relax.Expr:
    if data.size and (data.min() < _INT32.min or data.max() > _INT32.max):
        raise UnsupportedModelError(f"{what} holds int64 values beyond int32 ({data.min()}..{data.max()}); the "
                                    "generated C has no 64-bit integers")
    return relax.const(data.astype(np.int32))


def _arg_reduce(data: te.Tensor, axis: int, keepdims: bool, smallest: bool) -> te.Tensor:
    """ArgMax/ArgMin with an int32 index; ties go to the first index, like ONNX's default."""
    ndim = len(data.shape)
    axis = axis % ndim
    k = te.reduce_axis((0, data.shape[axis]), "k")

    def combine(x, y):
        better = (y[1] < x[1]) if smallest else (y[1] > x[1])
        better = tirx.Or(better, tirx.And(y[1] == x[1], y[0] < x[0]))
        return tirx.Select(better, y[0], x[0]), tirx.Select(better, y[1], x[1])

    def identity(t_idx, t_val):
        worst = te.max_value(t_val) if smallest else te.min_value(t_val)
        return tirx.const(_INT32.max, t_idx), worst

    reducer = te.comm_reducer(combine, identity, name="arg_reduce")
    out_shape = [1 if d == axis else data.shape[d] for d in range(ndim)] if keepdims else \
        [data.shape[d] for d in range(ndim) if d != axis]

    def body(*idx):
        src = list(idx) if keepdims else [*idx[:axis], 0, *idx[axis:]]
        src[axis] = k
        return reducer((tirx.Cast("int32", k), data(*src)), axis=k)

    index, _value = te.compute(out_shape, body, name="arg_reduce")
    return index


@mutator
class _Narrow(PyExprMutator):
    def __init__(self, mod: tvm.IRModule, outputs: set):
        super().__init__(mod)
        self.outputs = outputs

    def visit_generic_const_(self, const) -> relax.Expr:
        if str(getattr(const.ty, "dtype", "")) == "int64":
            return _int32_const(const.value.numpy(), "a constant")
        return const

    def visit_var_binding_(self, binding: relax.VarBinding) -> None:
        value = binding.value
        if isinstance(value, relax.ShapeExpr) and binding.var in self.outputs:  # ONNX Shape as an output
            try:
                dims = np.array([int(v) for v in value.values], np.int64)
            except (TypeError, ValueError):
                raise UnsupportedModelError("a Shape output of dynamic shape; aotgen needs static shapes") from None
            const = _int32_const(dims, "a Shape output")
            emit = self.builder_.emit if isinstance(binding.var, relax.DataflowVar) else self.builder_.emit_output
            self.set_var_remap(binding.var, emit(const, binding.var.name))
            return
        super().visit_var_binding_(binding)

    def visit_call_(self, call: relax.Call) -> relax.Expr:
        call = super().visit_call_(call)
        name = call.op.name if isinstance(call.op, tvm.ir.Op) else ""
        if name == "relax.size":
            shape = [int(d) for d in call.args[0].ty.shape.values]
            return _int32_const(np.array(int(np.prod(shape)), np.int64), "a Size output")
        if name == "relax.shape_to_tensor":  # a static shape (Gather's negative-index fix-up): a constant
            values = getattr(call.args[0].ty, "values", None)
            if values is not None and all(isinstance(v, tirx.IntImm) for v in values):
                return _int32_const(np.array([int(v) for v in values], np.int64), "a shape")
        if name in ("relax.argmax", "relax.argmin"):
            axis = call.attrs.axis
            data = call.args[0]
            if axis is None:  # over all elements: flatten first
                data = self.builder_.emit(relax.op.reshape(data, [-1]))
                axis = 0
            return self.builder_.call_te(_arg_reduce, data, int(axis), bool(call.attrs.keepdims),
                                         name == "relax.argmin", primfunc_name_hint=name.split(".")[1])
        if name == "relax.astype" and str(call.attrs.dtype) == "int64":
            return relax.op.astype(call.args[0], "int32")
        return call


def _output_vars(func: relax.Function) -> set:
    ret = func.body.body
    fields = list(ret.fields) if isinstance(ret, relax.Tuple) else [ret]
    return {f for f in fields if isinstance(f, relax.Var)}


def narrow_int64(mod: tvm.IRModule) -> tvm.IRModule:
    main = mod["main"]
    narrow = _Narrow(mod, _output_vars(main))
    narrowed = narrow.visit_expr(main)
    body = narrowed.body
    # The declared result type was int64 or a Shape: it follows the new body.
    func = relax.Function(narrowed.params, body, body.body.ty, main.is_pure, main.attrs)
    mod = narrow.builder_.get()  # with the ArgMax/ArgMin kernels call_te added
    mod["main"] = func
    if _has_int64(func):
        raise UnsupportedModelError("the model computes int64 tensors aotgen cannot narrow to int32 (the "
                                    "generated C has no 64-bit integers)")
    return mod


def _has_int64(func: relax.Function) -> bool:
    found = []

    def visit(e):
        ty = getattr(e, "ty", None)
        if isinstance(ty, relax.TensorType) and str(ty.dtype) == "int64":
            found.append(e)

    relax.analysis.post_order_visit(func.body, visit)
    return bool(found)
