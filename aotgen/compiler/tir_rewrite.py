"""TIR statement rewrites of our own (TVM 0.27 has no Python statement mutator)."""

from __future__ import annotations

import tvm.sym
import tvm_ffi
from tvm import tirx
from tvm.ir.expr import Call, TensorLoad  # TensorLoad: what tirx.BufferLoad builds in TVM 0.27


def rebuild_stmt(s, visit):
    """`s` with `visit` applied to each child statement (the same node when nothing changed)."""
    if isinstance(s, tirx.SeqStmt):
        new = [visit(x) for x in s.seq]
        return s if all(a.same_as(b) for a, b in zip(new, s.seq)) else tirx.SeqStmt(new)
    if isinstance(s, tirx.For):
        body = visit(s.body)
        return s if body.same_as(s.body) else tirx.For(s.loop_var, s.min, s.extent, s.kind, body, s.thread_binding,
                                                       s.annotations, s.step)
    if isinstance(s, tirx.IfThenElse):
        then = visit(s.then_case)
        other = visit(s.else_case) if s.else_case is not None else None
        if then.same_as(s.then_case) and (other is None or other.same_as(s.else_case)):
            return s
        return tirx.IfThenElse(s.condition, then, other)
    if isinstance(s, tirx.AttrStmt):
        body = visit(s.body)
        return s if body.same_as(s.body) else tirx.AttrStmt(s.node, s.attr_key, s.value, body)
    if isinstance(s, tirx.While):
        body = visit(s.body)
        return s if body.same_as(s.body) else tirx.While(s.condition, body)
    return s


def accumulation(loop: tirx.For):
    """(store, addend) when the loop's body is `acc[c] = acc[c] + addend`, an int32 sum into one
    element whose index c does not depend on the loop variable; else None. Only such a loop may
    skip iterations or become one call: any other store must happen once per iteration."""
    store = loop.body
    if not (isinstance(store, tirx.BufferStore) and isinstance(store.value, tirx.Add)
            and str(store.value.ty) == "int32"):
        return None
    acc = store.value.a
    if not (isinstance(acc, TensorLoad) and acc.source.same_as(store.buffer)
            and len(acc.indices) == len(store.indices)
            and all(tvm_ffi.structural_equal(a, b) for a, b in zip(acc.indices, store.indices))):
        return None
    if any(v.same_as(loop.loop_var) for index in store.indices for v in tirx.analysis.undefined_vars(index)):
        return None
    return store, store.value.b


def _conjuncts(cond) -> list:
    if isinstance(cond, tirx.And):
        return _conjuncts(cond.a) + _conjuncts(cond.b)
    return [cond]


def drop_dead_else(s):
    """HoistExpression turns a hoisted `a && b` into `if (a && b) T else if (a) if (b) E`. That
    else needs a and b, so it never runs: drop it (the compilers would; readers should not have to)."""
    s = rebuild_stmt(s, drop_dead_else)
    if isinstance(s, tirx.IfThenElse) and s.else_case is not None:
        needed, inner = [], s.else_case
        while isinstance(inner, tirx.IfThenElse) and inner.else_case is None:
            needed += _conjuncts(inner.condition)
            inner = inner.then_case
        if needed and all(any(tvm_ffi.structural_equal(c, n) for n in needed) for c in _conjuncts(s.condition)):
            return tirx.IfThenElse(s.condition, s.then_case, None)
    return s


def _zero(e) -> bool:
    return isinstance(e, tirx.IntImm) and e.value == 0


def _guarded_factor(product):
    """In `if_then_else(c, a, 0) * w` (either order): (c, a * w), else None."""
    if not isinstance(product, tirx.Mul):
        return None
    for guarded, other, left in ((product.a, product.b, True), (product.b, product.a, False)):
        if isinstance(guarded, Call) and guarded.op.name == "prim.if_then_else" and _zero(guarded.args[2]):
            value = guarded.args[1]
            return guarded.args[0], (value * other if left else other * value)
    return None


def clip_guarded_loops(s):
    """`for k in [0, n): acc += if_then_else(lo <= f(k) <= hi, a, 0) * w` -> the same sum over only
    the k where the condition holds, with no test per iteration: a convolution tap loop whose
    padding test depends on the tap itself (HoistExpression cannot lift those). Integer
    accumulators only, where leaving out a zero term is exact."""
    s = rebuild_stmt(s, clip_guarded_loops)
    if not (isinstance(s, tirx.For) and s.kind == tirx.ForKind.SERIAL):
        return s
    acc = accumulation(s)
    guarded = _guarded_factor(acc[1]) if acc is not None else None
    if guarded is None:
        return s
    store = acc[0]
    cond, product = guarded
    bounds = tvm.sym.detect_clip_bound(cond, [s.loop_var])
    if len(bounds) != 2:  # the condition is not (only) a range of the loop variable
        return s
    lo = s.min if bounds[0] is None else tirx.max(s.min, bounds[0])  # None: no bound on that side
    hi = s.min + s.extent if bounds[1] is None else tirx.min(s.min + s.extent, bounds[1] + 1)  # exclusive
    body = tirx.BufferStore(store.buffer, store.value.a + product, store.indices)
    return tirx.For(s.loop_var, lo, tirx.max(hi - lo, 0), s.kind, body, s.thread_binding, s.annotations, s.step)


_BINARY = tuple(getattr(tirx, n) for n in ("Add", "Sub", "Mul", "Div", "FloorDiv", "FloorMod", "Mod", "Min", "Max",
                                           "LT", "LE", "GT", "GE", "EQ", "NE", "And", "Or"))


def _map_operands(e, f):
    """`e` with `f` applied to its operands (arithmetic, comparisons, casts, selects); `e` itself
    when nothing changed."""
    if isinstance(e, _BINARY):
        a, b = f(e.a), f(e.b)
        return e if a.same_as(e.a) and b.same_as(e.b) else type(e)(a, b)
    if isinstance(e, tirx.Cast):
        v = f(e.value)
        return e if v.same_as(e.value) else tirx.Cast(e.ty, v)
    if isinstance(e, tirx.Select):
        c, t, o = (f(x) for x in (e.condition, e.true_value, e.false_value))
        same = c.same_as(e.condition) and t.same_as(e.true_value) and o.same_as(e.false_value)
        return e if same else tirx.Select(c, t, o)
    return e


def _map_stored_value(s, f):
    """A store or binding with `f` applied to the value it stores or binds; others unchanged."""
    if isinstance(s, tirx.BufferStore):
        v = f(s.value)
        return s if v.same_as(s.value) else tirx.BufferStore(s.buffer, v, s.indices)
    if isinstance(s, (tirx.Bind, tirx.LetStmt)):
        v = f(s.value)
        return s if v.same_as(s.value) else type(s)(s.var, v)
    return s


def _keep_nan_expr(e):
    """`e` with every float max/min written to keep NaN (see keep_nan)."""
    if isinstance(e, (tirx.Max, tirx.Min)):
        a, b = _keep_nan_expr(e.a), _keep_nan_expr(e.b)
        if not str(e.ty).startswith("float"):
            return e if a.same_as(e.a) and b.same_as(e.b) else type(e)(a, b)
        take_b = a < b if isinstance(e, tirx.Max) else b < a  # false when a is NaN: a passes
        picked = tirx.Select(take_b, b, a)
        return picked if isinstance(b, tirx.FloatImm) else tirx.Select(b != b, b, picked)
    return _map_operands(e, _keep_nan_expr)


def keep_nan(s):
    """Float max/min as TFLite's and onnxruntime's kernels compute them: TVM's C writes max(a, b)
    as `a > b ? a : b`, so ReLU(NaN) = 0; TFLite clamps with `x < lo ? lo : x` (NaN passes,
    infinities clamp) and onnxruntime's Max, Min and Clip return NaN. Here max(a, b) becomes
    `b != b ? b : (a < b ? b : a)` (no test against a constant b): NaN if either is NaN."""
    return _map_stored_value(rebuild_stmt(s, keep_nan), _keep_nan_expr)


def _dtype(e) -> str:
    return str(e.dtype) if hasattr(e, "dtype") else str(e.ty.dtype)


def _bool_test(cond):
    """`b` for `(int64)0 < (int64)b` with b a bool (how a Where on a bool condition lowers), else None."""
    if not isinstance(cond, tirx.LT):
        return None
    a, b = cond.a, cond.b
    a = a.value if isinstance(a, tirx.Cast) else a
    if _zero(a) and isinstance(b, tirx.Cast) and _dtype(b.value) == "bool":
        return b.value
    return None


def _bool_select(e):
    """`e` with the conditions of its if_then_else calls written without the int64 detour (through
    the arithmetic, comparisons and selects around them)."""
    if isinstance(e, Call) and str(getattr(e.op, "name", "")).endswith(".if_then_else"):
        cond, then, other = e.args
        b = _bool_test(cond)
        new = (cond if b is None else b, _bool_select(then), _bool_select(other))
        return e if all(x.same_as(y) for x, y in zip(new, e.args)) else tirx.if_then_else(*new)
    return _map_operands(e, _bool_select)


def bool_conditions(s):
    """`if ((int64_t)0 < (int64_t)b)` is `if (b)`: no 64-bit comparison in the C (in an if, or an
    if_then_else stored: Where, Clip with tensor bounds, Shrink, PRelu)."""
    s = _map_stored_value(rebuild_stmt(s, bool_conditions), _bool_select)
    if isinstance(s, tirx.IfThenElse):
        b = _bool_test(s.condition)
        if b is not None:
            return tirx.IfThenElse(b, s.then_case, s.else_case)
    return s
