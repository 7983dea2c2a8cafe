"""Multiply-accumulates of a kernel, counted on its TIR before scheduling: each reduction block
whose update adds a product (`acc = acc + a * b`) does one MAC per point of its iteration domain.
Padding taps count (as MAC figures for TFLite Micro and CMSIS-NN do); max/min reductions and sums
without a product do not."""

from __future__ import annotations

from tvm import s_tir, tirx

_COMM_REDUCE = 2  # IterVar.CommReduce


def _has_product(e) -> bool:
    if isinstance(e, tirx.Mul):
        return True
    if isinstance(e, tirx.Cast):
        return _has_product(e.value)
    return isinstance(e, (tirx.Add, tirx.Sub)) and (_has_product(e.a) or _has_product(e.b))


def _is_mac(block) -> bool:
    body = block.body
    return (any(int(v.iter_type) == _COMM_REDUCE for v in block.iter_vars)
            and isinstance(body, tirx.BufferStore) and isinstance(body.value, tirx.Add)
            and (_has_product(body.value.b) or _has_product(body.value.a)))


def count_macs(func: tirx.PrimFunc) -> int:
    total = 0

    def walk(s) -> None:
        nonlocal total
        if isinstance(s, s_tir.SBlockRealize):
            walk(s.block)
        elif isinstance(s, s_tir.SBlock):
            if _is_mac(s):
                n = 1
                for v in s.iter_vars:
                    extent = v.dom.extent
                    if not isinstance(extent, tirx.IntImm):
                        return
                    n *= int(extent.value)
                total += n
            walk(s.body)
        elif isinstance(s, tirx.SeqStmt):
            for x in s.seq:
                walk(x)
        elif hasattr(s, "body"):
            walk(s.body)

    walk(func.body)
    return total
