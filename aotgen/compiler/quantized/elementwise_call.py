"""int8 ADD / SUB / MUL of two same-shape tensors as one call of the C kernels of
runtime/aotgen_elementwise_s8.h (both backends, every core); broadcasting ones keep their TE
kernels (te_kernels.add_te / mul_te). The fast requantization's conditions are decided here."""

from __future__ import annotations

from tvm import te, tirx

from .. import c_helpers
from .fc_call import c_kernels_enabled


def _same_shape(ins, outs) -> bool:
    """The inputs and output have one shape, and C kernels are on (fc_call.c_kernels)."""
    if not c_kernels_enabled():
        return False
    shapes = [[int(d) for d in t.tensor.ShapeAsNumpy()] for t in (ins[0], ins[1], outs[0])]
    return shapes[0] == shapes[1] == shapes[2]


def _extern(a, b, name: str, kernel: str, *args):
    shape = [int(d) for d in a.shape]
    n = 1
    for d in shape:
        n *= d
    i32 = lambda v: tirx.const(int(v), "int32")  # noqa: E731

    def call(ins, outs):
        return c_helpers.call_kernel(kernel, ins[0].data, ins[1].data, i32(n), *map(i32, args), outs[0].data)

    return te.extern(shape, [a, b], call, dtype="int8", name=name)


def add_call(bb, ins, outs, a, b, params: dict, subtract: bool):
    """add.cc's arithmetic through aotgen_add_s8, or None (broadcasting; an input left shift,
    which add.cc's Prepare never makes)."""
    p = params
    if not _same_shape(ins, outs) or p["s1"] > 0 or p["s2"] > 0:
        return None
    args = (p["zp1"], p["zp2"], p["m1"], p["s1"], p["m2"], p["s2"], p["mo"], p["so"], p["so"] <= 0, p["zpo"],
            p["lo"], p["hi"], subtract)
    name = "sub_int8" if subtract else "add_int8"
    return bb.call_te(lambda a_, b_: _extern(a_, b_, name, "add_s8", *args), a, b, primfunc_name_hint=name)


def mul_call(bb, ins, outs, a, b, zp1: int, zp2: int, mult: int, shift: int, zp_out: int, lo: int, hi: int):
    """mul.cc's arithmetic through aotgen_mul_s8 (|product| <= 255^2: fast where the shift is a
    right shift), or None when broadcasting."""
    if not _same_shape(ins, outs):
        return None
    args = (zp1, zp2, mult, shift, shift <= 0, zp_out, lo, hi)
    return bb.call_te(lambda a_, b_: _extern(a_, b_, "mul_int8", "mul_s8", *args), a, b, primfunc_name_hint="mul_int8")
