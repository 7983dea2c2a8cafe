"""The lowering's own TIR rewrites change only reductions into one element (`acc[c] += ...` with c
independent of the loop): a loop that stores to a new element each iteration must keep every
iteration, so neither clipping its range nor replacing it by a dot-product call is allowed."""

from tvm import tirx

from aotgen.compiler import c_helpers
from aotgen.compiler.int8_dot import use_dot_helper
from aotgen.compiler.tir_rewrite import accumulation, clip_guarded_loops

K, O = tirx.Var("k", "int32"), tirx.Var("o", "int32")
X, W, Y = (tirx.decl_buffer((16,), dtype, name) for name, dtype in (("x", "int8"), ("w", "int8"), ("y", "int32")))


def i32(buffer, index):
    return tirx.Cast("int32", tirx.BufferLoad(buffer, [index]))


def loop(extent: int, target_index, addend) -> tirx.For:
    body = tirx.BufferStore(Y, tirx.BufferLoad(Y, [target_index]) + addend, [target_index])
    return tirx.For(K, 0, extent, tirx.ForKind.SERIAL, body)


def test_only_a_sum_into_one_element_is_an_accumulation():
    assert accumulation(loop(16, O, i32(X, K) * i32(W, K))) is not None
    assert accumulation(loop(16, K, i32(X, K) * i32(W, K))) is None


def test_dot_helper_replaces_reductions_only():
    with c_helpers.symbol_prefix("t"):
        per_element = loop(16, K, i32(X, K) * i32(W, K))
        assert use_dot_helper(per_element).same_as(per_element)
        rewritten = use_dot_helper(loop(16, O, i32(X, K) * i32(W, K)))
    assert isinstance(rewritten, tirx.BufferStore) and "t_dot_s8" in rewritten.script()


def test_clipping_applies_to_reductions_only():
    guarded = tirx.if_then_else(tirx.all(1 <= O + K, O + K < 8), i32(X, K), 0) * i32(W, K)
    per_element = loop(4, K, guarded)
    assert clip_guarded_loops(per_element).same_as(per_element)
    clipped = clip_guarded_loops(loop(4, O, guarded))
    assert isinstance(clipped, tirx.For) and "if_then_else" not in clipped.script()
