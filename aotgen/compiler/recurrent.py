"""Float recurrent layers (TFLite UNIDIRECTIONAL_SEQUENCE_LSTM, ONNX LSTM and GRU) unrolled over
their time steps, at import, into ops aotgen already compiles: one matmul of every step's input
for all gates at once, then per step a matmul of the hidden state, adds, sigmoid / tanh and
elementwise products. Sequence lengths are static, so the unrolled graph is the layer exactly;
its memory is planned like any other (the states are ordinary tensors).

TVM 0.27's importers do not help here: its ONNX importer has no LSTM/GRU, and its TFLite one
computes only the coupled-input-forget-gate (CIFG) LSTM, which Keras never produces.
The int8 TFLite LSTM is a C kernel instead (quantized/lstm.py, runtime/aotgen_lstm_s8.h)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import tvm
from tvm import relax



@dataclass
class Cell:
    """One direction's weights as Relax values: w [input, gates*H], r [H, gates*H], bias [gates*H]
    (None: none), in the gate order of `gates`; peephole: gate name -> [H]."""

    w: relax.Expr
    r: relax.Expr
    bias: relax.Expr | None
    gates: tuple[str, ...]
    peephole: dict = field(default_factory=dict)
    clip: float | None = None  # ONNX: bounds every gate's pre-activation
    cell_clip: float | None = None  # TFLite: bounds the cell state


def _f32(v: float) -> relax.Expr:
    return relax.const(v, "float32")


def _split(bb, z: relax.Expr, names: tuple[str, ...]) -> dict:
    parts = bb.emit(relax.op.split(z, len(names), axis=1))
    return {n: bb.emit(relax.TupleGetItem(parts, i)) for i, n in enumerate(names)}


def _pre(bb, cell: Cell, x_proj: relax.Expr, h: relax.Expr | None) -> dict:
    """Gate pre-activations x W + h R + b, split by gate (x W precomputed; h None: zero)."""
    z = x_proj if h is None else bb.emit(relax.op.add(x_proj, relax.op.matmul(h, cell.r)))
    return _split(bb, z, cell.gates)


def _clipped(bb, v: relax.Expr, bound: float | None) -> relax.Expr:
    return v if not bound else bb.emit(relax.op.clip(v, -bound, bound))


def _input_projection(bb, cell: Cell, xs: list[relax.Expr]) -> list[relax.Expr]:
    """x_t W (+ b) of every step with one matmul: [steps * batch, input] x [input, gates * H]."""
    batch = int(xs[0].ty.shape[0])
    stacked = bb.emit(relax.op.concat(xs, axis=0)) if len(xs) > 1 else xs[0]
    proj = relax.op.matmul(stacked, cell.w)
    if cell.bias is not None:
        proj = relax.op.add(proj, cell.bias)
    proj = bb.emit(proj)
    if len(xs) == 1:
        return [proj]
    parts = bb.emit(relax.op.split(proj, [batch * (i + 1) for i in range(len(xs) - 1)], axis=0))
    return [bb.emit(relax.TupleGetItem(parts, i)) for i in range(len(xs))]


def zero_or(state: np.ndarray) -> relax.Expr | None:
    """A constant initial state, None when it is zero: the first step then skips the terms it
    would multiply (and no kernel mixes a constant state with the later steps' RAM ones, which AVR,
    its constants in flash, cannot take)."""
    return None if not np.any(state) else relax.const(state)


def lstm(bb, cell: Cell, xs: list[relax.Expr], h: relax.Expr | None, c: relax.Expr | None):
    """The LSTM over steps xs (each [batch, input]) from states h, c (None: zero): ([h_t], h, c)."""
    outs = []
    for xp in _input_projection(bb, cell, xs):
        g = _pre(bb, cell, xp, h)
        pre = {}
        for name in ("i", "f"):
            v = g[name]
            if name in cell.peephole and c is not None:
                v = bb.emit(relax.op.add(v, relax.op.multiply(cell.peephole[name], c)))
            pre[name] = _clipped(bb, v, cell.clip)
        i = bb.emit(relax.op.sigmoid(pre["i"]))
        f = bb.emit(relax.op.sigmoid(pre["f"]))
        cand = bb.emit(relax.op.tanh(_clipped(bb, g["c"], cell.clip)))
        ic = relax.op.multiply(i, cand)
        c = bb.emit(ic if c is None else relax.op.add(relax.op.multiply(f, c), ic))
        c = _clipped(bb, c, cell.cell_clip)
        o = g["o"]
        if "o" in cell.peephole:
            o = bb.emit(relax.op.add(o, relax.op.multiply(cell.peephole["o"], c)))
        o = bb.emit(relax.op.sigmoid(_clipped(bb, o, cell.clip)))
        h = bb.emit(relax.op.multiply(o, relax.op.tanh(c)))
        outs.append(h)
    return outs, h, c


def gru(bb, cell: Cell, xs: list[relax.Expr], h: relax.Expr | None, rb_h: relax.Expr | None):
    """ONNX's GRU (gates z, r, h) over steps xs from state h (None: zero): ([h_t], h). cell.bias
    holds every bias that only adds (W's, and R's but for its h part with linear_before_reset);
    rb_h [H] is that h part, inside the reset product (None: linear_before_reset=0)."""
    hidden = int(cell.r.ty.shape[0])
    one = _f32(1.0)
    r_zr = bb.emit(relax.op.strided_slice(cell.r, axes=[1], begin=[0], end=[2 * hidden]))
    r_h = bb.emit(relax.op.strided_slice(cell.r, axes=[1], begin=[2 * hidden], end=[3 * hidden]))
    outs = []
    for xp in _input_projection(bb, cell, xs):
        x = _split(bb, xp, ("z", "r", "h"))
        pre_z, pre_r = x["z"], x["r"]
        if h is not None:
            zr = _split(bb, bb.emit(relax.op.matmul(h, r_zr)), ("z", "r"))
            pre_z, pre_r = relax.op.add(pre_z, zr["z"]), relax.op.add(pre_r, zr["r"])
        z = bb.emit(relax.op.sigmoid(_clipped(bb, pre_z, cell.clip)))
        r = bb.emit(relax.op.sigmoid(_clipped(bb, pre_r, cell.clip)))
        if rb_h is not None:  # linear_before_reset: r * (h R_h + Rb_h)
            rec = relax.op.multiply(r, rb_h if h is None else relax.op.add(relax.op.matmul(h, r_h), rb_h))
            pre_h = relax.op.add(x["h"], rec)
        else:  # (r * h) R_h
            pre_h = x["h"] if h is None else relax.op.add(x["h"], relax.op.matmul(relax.op.multiply(r, h), r_h))
        cand = bb.emit(relax.op.tanh(_clipped(bb, pre_h, cell.clip)))
        keep = relax.op.multiply(relax.op.subtract(one, z), cand)
        h = bb.emit(keep if h is None else relax.op.add(keep, relax.op.multiply(z, h)))
        outs.append(h)
    return outs, h


def steps_of(bb, x: relax.Expr, time_axis: int) -> list[relax.Expr]:
    """The [batch, features] slices of x ([steps, batch, features] or [batch, steps, features])."""
    n = int(x.ty.shape[time_axis])
    if n == 1:
        return [bb.emit(relax.op.squeeze(x, axis=[time_axis]))]
    parts = bb.emit(relax.op.split(x, n, axis=time_axis))
    return [bb.emit(relax.op.squeeze(relax.TupleGetItem(parts, i), axis=[time_axis])) for i in range(n)]


def const_value(e) -> np.ndarray | None:
    """A constant input's value (ONNX initializers arrive as Relax constants), else None."""
    if isinstance(e, tvm.ir.GenericConst):
        return e.value.numpy()
    return None

