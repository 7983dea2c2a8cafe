"""ONNX QDQ patterns -> integer kernels, reproducing onnxruntime bit for bit.

TVM's ONNX importer keeps a QDQ model fake-quant: `dequantize(x_q) -> conv2d/matmul (+ add bias)
-> quantize`. onnxruntime's CPU EP fuses exactly these into QLinearConv / QLinearMatMul / QGemm:

- int8/uint8 x minus its zero point, times int8 weights (zero point 0), summed in int32, plus the
  int32 bias as stored (its DequantizeLinear scale is not applied: it is x_scale * w_scale);
- requantized in float (MlasRequantizeOutput, and the ConvSym/QGemm kernels alike):
  `y = clamp(nearbyint((float)acc * scale) + zp_y)`, scale = `x_scale * w_scale / y_scale` in
  float32, in that order (QLinearConv's output_scales), round half to even.

The float steps are emulated exactly in 32-bit integers by the C helper `requantize_float`, so
the kernels hold no float. Weights stay int8 constants. Also `quantize(relu(dequantize(x)))` with
equal parameters becomes `max(x, zp)` (what the float path computes, exactly). Anything else
stays on the float path, untouched.

A conv/matmul whose float result has other consumers besides the Q stays float (ORT does not
fuse it either). Not reproduced: MatMul + Add(int32 DQ bias) written as two ONNX nodes is
matched like Gemm (ORT would not fuse the Add) and can differ from ORT by 1 LSB.
"""

from __future__ import annotations

import math

import numpy as np
import tvm
from tvm import relax, te, tirx

from . import c_helpers

# The Relax ops (as TVM imports ONNX operators) whose DQ -> op -> Q this module makes integer, and
# the ONNX operators that become them: docs/operators.md is generated from this table.
CONV2D, MATMUL, RELU = "relax.nn.conv2d", "relax.matmul", "relax.nn.relu"
INTEGER_QDQ_OPS = {"Conv": CONV2D, "MatMul": MATMUL, "Gemm": MATMUL, "Relu": RELU}


def pack_scale(scale: np.float32) -> int:
    """float32 scale > 0 as the helper's `m | e << 24` (scale = m * 2^-e)."""
    frac, exp = math.frexp(float(np.float32(scale)))
    m, e = int(frac * (1 << 24)), 24 - exp
    if e > 127 or m == 0:
        return 0  # below 2^-103: every product rounds to 0
    return m | (max(e, 0) << 24)


# ------------------------------------------------------------------------------- pattern matching


def _op(expr, name: str) -> bool:
    return isinstance(expr, relax.Call) and isinstance(expr.op, tvm.ir.Op) and expr.op.name == name


def _const(expr) -> np.ndarray | None:
    return expr.value.numpy() if isinstance(expr, tvm.ir.GenericConst) else None


def _scalar(expr) -> np.ndarray | None:
    v = _const(expr)
    return v.reshape(()) if v is not None and v.size == 1 else None


def _dtype(expr) -> str:
    return str(expr.ty.dtype)


def _use_counts(func: relax.Function) -> dict[str, int]:
    """How often each variable is used, by name (names the importer made unique; a shared name
    only counts more uses, so the rewrite stays conservative)."""
    counts: dict[str, int] = {}
    values = [b.value for block in func.body.blocks for b in block.bindings] + [func.body.body]
    for value in values:
        for v in relax.analysis.free_vars(value) if not isinstance(value, relax.Var) else [value]:
            counts[v.name] = counts.get(v.name, 0) + 1
    return counts


class _Match:
    """One recognised DQ -> conv2d/matmul (+ bias) -> Q, as integers."""

    kind: str  # "conv2d" or "matmul"
    call: relax.Call  # the float conv2d / matmul
    x: relax.Expr  # the quantized input
    x_zp: int
    x_scale: np.ndarray
    w: np.ndarray  # int8; OIHW for conv2d, (K, N) for matmul, or (N, K) if w_transposed
    w_transposed: bool
    w_scale: np.ndarray  # float32, one per output channel
    bias: np.ndarray | None  # int32, one per output channel
    scale: np.ndarray  # float32 x_scale * w_scale / y_scale, per output channel
    y_zp: int
    out_dtype: str


@relax.expr_functor.mutator
class _QdqRewriter(relax.PyExprMutator):
    def __init__(self, mod: tvm.IRModule):
        super().__init__(mod)
        self.mod_ = mod
        self.uses = _use_counts(mod["main"])

    def single_use(self, expr) -> bool:
        """ORT fuses DQ -> op -> Q only when the op's float result goes to the Q alone."""
        return not isinstance(expr, relax.Var) or self.uses.get(expr.name, 0) == 1

    def transform(self) -> tvm.IRModule:
        for gv, func in self.mod_.functions_items():
            if isinstance(func, relax.Function):
                self.builder_.update_func(gv, self.visit_expr(func))
        return self.builder_.get()

    def bound(self, expr):
        """The call a variable is bound to (the expression itself otherwise)."""
        if isinstance(expr, relax.Var):
            value = self.lookup_binding(expr)
            return value if value is not None else expr
        return expr

    def visit_call_(self, call):
        call = self.visit_expr_post_order(call)
        if not _op(call, "relax.quantize"):
            return call
        relu = self.match_relu(call)
        if relu is not None:
            return relu
        m = self.match(call)
        if m is None:
            return call
        return emit_integer_kernel(self.builder_, m)

    def match_relu(self, q: relax.Call):
        """quantize(relu(dequantize(x, s, zp)), s, zp) is max(x, zp) exactly (same parameters)."""
        relu = self.bound(q.args[0])
        if not _op(relu, RELU):
            return None
        dq = self.bound(relu.args[0])
        if not _op(dq, "relax.dequantize") or _dtype(dq.args[0]) != _dtype(q):
            return None
        params = [_scalar(e) for e in (dq.args[1], dq.args[2], q.args[1], q.args[2])]
        if any(p is None for p in params) or params[0] != params[2] or params[1] != params[3]:
            return None
        return relax.op.maximum(dq.args[0], relax.const(params[1].astype(_dtype(q))))

    def match(self, q: relax.Call) -> _Match | None:
        y_scale, y_zp = _scalar(q.args[1]), _scalar(q.args[2])
        if y_scale is None or y_zp is None or _dtype(q) not in ("int8", "uint8"):
            return None
        m = _Match()
        m.y_zp, m.out_dtype = int(y_zp), _dtype(q)
        if not self.single_use(q.args[0]):
            return None
        core, m.bias = self.split_bias(self.bound(q.args[0]))
        if core is None or not self.match_core(m, core):
            return None
        if _dtype(m.x) != m.out_dtype:
            return None  # ORT's QDQ Conv/MatMul selectors fuse only equal x and y types
        if m.bias is not None and m.bias.size != m.w_scale.size:
            return None
        x_scale = np.float32(m.x_scale)
        m.scale = (x_scale * m.w_scale / np.float32(y_scale)).astype(np.float32)  # QLinearConv's order
        return m

    def split_bias(self, expr):
        """(core, int32 bias or None): `add(core, [reshape](dequantize(int32 const, _, 0)))`."""
        if not _op(expr, "relax.add"):
            return expr, None
        for core, b in ((expr.args[0], expr.args[1]), (expr.args[1], expr.args[0])):
            b = self.bound(b)
            if _op(b, "relax.reshape"):
                b = self.bound(b.args[0])
            if not _op(b, "relax.dequantize"):
                continue
            values, zp = _const(b.args[0]), _const(b.args[2])
            if values is None or values.dtype != np.int32 or values.ndim != 1 or zp is None or np.any(zp != 0):
                continue
            return (self.bound(core), values) if self.single_use(core) else (None, None)
        return None, None

    def dequantized_weights(self, expr, channel_axis: int) -> tuple[np.ndarray, np.ndarray] | None:
        """(int8 weights, float32 scale per output channel) of dequantize(const int8, s, 0)."""
        expr = self.bound(expr)
        if not _op(expr, "relax.dequantize"):
            return None
        w, scale, zp = _const(expr.args[0]), _const(expr.args[1]), _const(expr.args[2])
        if w is None or w.dtype != np.int8 or scale is None or zp is None or np.any(zp != 0):
            return None
        channels = w.shape[channel_axis]
        if scale.size == 1:
            return w, np.full(channels, scale.reshape(()), np.float32)
        if scale.size == channels and int(expr.attrs.axis) % w.ndim == channel_axis:
            return w, scale.astype(np.float32).reshape(-1)
        return None

    def dequantized_input(self, m: _Match, expr) -> bool:
        expr = self.bound(expr)
        if not _op(expr, "relax.dequantize") or _dtype(expr.args[0]) not in ("int8", "uint8"):
            return False
        scale, zp = _scalar(expr.args[1]), _scalar(expr.args[2])
        if scale is None or zp is None:
            return False
        m.x, m.x_zp, m.x_scale = expr.args[0], int(zp), scale
        return True

    def match_core(self, m: _Match, core) -> bool:
        if _op(core, CONV2D):
            a = core.attrs
            if (str(a.data_layout), str(a.kernel_layout), str(a.out_layout)) != ("NCHW", "OIHW", "NCHW"):
                return False
            found = self.dequantized_weights(core.args[1], 0)
            m.kind, weights = "conv2d", None if found is None else (*found, False)
        elif _op(core, MATMUL):
            m.kind, weights = "matmul", self.matmul_weights(core.args[1])
        else:
            return False
        if weights is None or not self.dequantized_input(m, core.args[0]):
            return False
        m.call = core
        m.w, m.w_scale, m.w_transposed = weights
        return True

    def matmul_weights(self, expr):
        """(weights, scales, transposed): dequantize(const (K, N)), or permute_dims of
        dequantize(const (N, K)) (Gemm with transB), kept (N, K): the inner loop reads a row."""
        expr = self.bound(expr)
        if _op(expr, "relax.permute_dims"):
            axes = expr.attrs.axes
            if axes is not None and [int(v) for v in axes] != [1, 0]:
                return None
            found = self.dequantized_weights(expr.args[0], 0)
            return None if found is None or found[0].ndim != 2 else (*found, True)
        found = self.dequantized_weights(expr, 1)
        return None if found is None or found[0].ndim != 2 else (*found, False)


# ------------------------------------------------------------------------------------- TE kernels


def _requantize(acc, bias, scales, c, packed: list[int], zp_out: int, out_dtype: str):
    """Bias, onnxruntime's float requantization (emulated in integers), zero point, clamp."""
    i32 = lambda v: tirx.const(int(v), "int32")  # noqa: E731
    if bias is not None:
        acc = acc + bias[c]
    word = i32(packed[0]) if scales is None else scales[c]
    info = np.iinfo(out_dtype)
    v = c_helpers.call("int32", "requantize_float", acc, word) + i32(zp_out)
    return tirx.Cast(out_dtype, tirx.max(tirx.min(v, i32(info.max)), i32(info.min)))


def conv2d_nchw_te(x, w, bias, scales, *, strides, pads, dilation, groups, zp_in, packed, zp_out, out_dtype, out_shape):
    """QLinearConv on NCHW / OIHW: padding contributes nothing (ORT pads with the zero point)."""
    _, _, in_h, in_w = (int(d) for d in x.shape)
    out_c, filter_c, kh_n, kw_n = (int(d) for d in w.shape)
    per_group = out_c // groups
    ric = te.reduce_axis((0, filter_c), "ic")
    rkh = te.reduce_axis((0, kh_n), "kh")
    rkw = te.reduce_axis((0, kw_n), "kw")
    zp = tirx.const(zp_in, "int32")

    def acc_f(n, oc, oh, ow):
        ih = oh * strides[0] + rkh * dilation[0] - pads[0]
        iw = ow * strides[1] + rkw * dilation[1] - pads[1]
        ic = ric if groups == 1 else (oc // per_group) * filter_c + ric
        inside = tirx.all(ih >= 0, ih < in_h, iw >= 0, iw < in_w)
        xv = tirx.if_then_else(inside, tirx.Cast("int32", x[n, ic, ih, iw]) - zp, tirx.const(0, "int32"))
        return te.sum(xv * tirx.Cast("int32", w[oc, ric, rkh, rkw]), axis=[ric, rkh, rkw])

    acc = te.compute(out_shape, acc_f, name="qlinearconv_acc")
    return te.compute(out_shape, lambda n, c, h, w_: _requantize(acc[n, c, h, w_], bias, scales, c, packed, zp_out,
                                                                 out_dtype), name="qlinearconv")


def matmul_te(x, w, bias, scales, *, transposed, zp_in, packed, zp_out, out_dtype, out_shape):
    """QLinearMatMul / QGemm: x (..., K) times constant w (K, N), or w (N, K) transposed."""
    k_n = int(w.shape[1 if transposed else 0])
    rk = te.reduce_axis((0, k_n), "k")
    zp = tirx.const(zp_in, "int32")

    def acc_f(*idx):
        return te.sum((tirx.Cast("int32", x[(*idx[:-1], rk)]) - zp) * tirx.Cast("int32", w[idx[-1], rk] if transposed else w[rk, idx[-1]]), axis=rk)

    acc = te.compute(out_shape, acc_f, name="qlinearmatmul_acc")
    return te.compute(out_shape, lambda *idx: _requantize(acc(*idx), bias, scales, idx[-1], packed, zp_out,
                                                          out_dtype), name="qlinearmatmul")


def emit_integer_kernel(bb: relax.BlockBuilder, m: _Match) -> relax.Expr:
    packed = [pack_scale(s) for s in m.scale]
    uniform = len(set(packed)) == 1
    out_shape = [int(d) for d in m.call.ty.shape]
    args = [m.x, relax.const(m.w)]
    if m.bias is not None:
        args.append(relax.const(m.bias.astype(np.int32)))
    if not uniform:
        args.append(relax.const(np.array(packed, np.int32)))
    common = {"zp_in": m.x_zp, "packed": packed, "zp_out": m.y_zp, "out_dtype": m.out_dtype, "out_shape": out_shape}

    def kernel(x, w, *rest):
        bias = rest[0] if m.bias is not None else None
        scales = None if uniform else rest[-1]
        if m.kind == "matmul":
            return matmul_te(x, w, bias, scales, transposed=m.w_transposed, **common)
        a = m.call.attrs
        return conv2d_nchw_te(x, w, bias, scales, strides=[int(v) for v in a.strides],
                              pads=[int(a.padding[0]), int(a.padding[1])],
                              dilation=[int(v) for v in a.dilation], groups=int(a.groups), **common)

    name = "qlinearconv" if m.kind == "conv2d" else "qlinearmatmul"
    return bb.call_te(kernel, *args, primfunc_name_hint=name)


def _has_qdq(mod: tvm.IRModule) -> bool:
    calls = [b.value for block in mod["main"].body.blocks for b in block.bindings]
    return any(_op(c, "relax.quantize") for c in calls) and any(_op(c, "relax.dequantize") for c in calls)


def rewrite_qdq(mod: tvm.IRModule) -> tvm.IRModule:
    """DQ -> conv2d/matmul (+ int32 bias) -> Q as integer kernels; the rest untouched."""
    if "main" not in [gv.name_hint for gv in mod.get_global_vars()] or not _has_qdq(mod):
        return mod
    mod = _QdqRewriter(mod).transform()
    return relax.transform.DeadCodeElimination()(mod)
