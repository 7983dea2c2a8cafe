"""Rebuilding TIR statement trees (TVM 0.27 has no Python statement mutator)."""

from __future__ import annotations

from tvm import tirx


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
