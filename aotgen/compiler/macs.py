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


# Micro-kernel calls (te.extern): name suffix -> the MACs from its integer arguments.
_KERNEL_MACS = {
    "_conv1x1_s8": lambda a: a[10] * a[11] * a[12],  # pixels * cin * cout
    "_conv_gemm_s8": lambda a: a[12] * a[13] * a[16] * a[4] * a[5] * a[3],  # out_h * out_w * cout * kh * kw * cin
    "_conv_gemm_1x1_s8": lambda a: a[1] * a[2] * a[5],  # pixels * cin * cout
    "_dwconv_s8": lambda a: a[21] * a[22] * a[12] * a[13] * a[14],  # out_h * out_w * channels * k_h * k_w
    "_depthwise_s8": lambda a: a[12] * a[13] * a[3] * a[4] * a[5],  # out_h * out_w * channels * kh * kw
    "_fc_s8": lambda a: a[1] * a[2] * a[4],  # batches * k * n_out
}


def _kernel_call_macs(s) -> int:
    call = getattr(s, "value", None)
    op = getattr(call, "op", None)
    name = str(call.args[0].value) if op is not None and getattr(op, "name", "") == "tirx.call_extern" else ""
    for suffix, macs in _KERNEL_MACS.items():
        if name.endswith(suffix):
            return macs([int(a.value) if isinstance(a, tirx.IntImm) else 0 for a in call.args[1:]])
    return 0


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
        elif isinstance(s, tirx.Evaluate):
            total += _kernel_call_macs(s)
        elif hasattr(s, "body"):
            walk(s.body)

    walk(func.body)
    return total
