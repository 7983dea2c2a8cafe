"""ONNX LSTM and GRU (float), unrolled over their static sequence by recurrent.py: forward,
reverse and bidirectional, both layouts, optional bias, initial states and (LSTM) peepholes.
Refused in one line: other activations, input_forget coupling, sequence_lens shorter than the
sequence."""

from __future__ import annotations

import numpy as np
from tvm import relax

from ..errors import UnsupportedModelError
from . import recurrent

_LSTM_ACTS = ("Sigmoid", "Tanh", "Tanh")
_GRU_ACTS = ("Sigmoid", "Tanh")


def _text(v) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def _input(inputs, i):
    return inputs[i] if len(inputs) > i else None


def _check_common(node, inputs, attrs, acts: tuple[str, ...]) -> tuple[str, list[str]]:
    direction = _text(attrs.get("direction", b"forward"))
    dirs = {"forward": ["forward"], "reverse": ["reverse"], "bidirectional": ["forward", "reverse"]}.get(direction)
    if dirs is None:
        raise UnsupportedModelError(f"direction {direction}")
    given = [_text(a) for a in attrs.get("activations", ())]
    if given and [a.lower() for a in given] != [a.lower() for a in acts * len(dirs)]:
        raise UnsupportedModelError(f"activations {', '.join(given)} (aotgen computes the default "
                                    f"{', '.join(acts)})")
    x = inputs[0]
    seq = int(x.ty.shape[1 if int(attrs.get("layout", 0)) else 0])
    lens = _input(inputs, 4)
    if lens is not None:
        value = recurrent.const_value(lens)
        if value is None or np.any(value != seq):
            raise UnsupportedModelError("sequence_lens shorter than the sequence (or given at run time): "
                                        "aotgen computes whole sequences")
    return direction, dirs


def _per_dir(e: relax.Expr, d: int) -> relax.Expr:
    return relax.op.squeeze(relax.op.strided_slice(e, axes=[0], begin=[d], end=[d + 1]), axis=[0])


def _state(bb, inputs, i, d, batch, hidden, layout):
    """initial_h / initial_c of direction d as [batch, hidden] (None: zero, when absent or zero)."""
    s = _input(inputs, i)
    value = None if s is None else recurrent.const_value(s)
    if s is None or (value is not None and not np.any(value)):
        return None
    if layout:  # [batch, dirs, hidden]
        s = relax.op.permute_dims(s, [1, 0, 2])
    return bb.emit(_per_dir(s, d))


def _outputs(bb, node, per_dir: list[list[relax.Expr]], finals: list[list[relax.Expr]], layout: int):
    """Y [seq, dirs, batch, H] (layout 1: [batch, seq, dirs, H]) and the final states [dirs, batch, H]
    (layout 1: [batch, dirs, H]), as many as the node names."""
    ys = [bb.emit(relax.op.stack(outs, axis=0)) for outs in per_dir]  # each [seq, batch, H]
    y = bb.emit(relax.op.stack(ys, axis=1))  # [seq, dirs, batch, H]
    if layout:
        y = bb.emit(relax.op.permute_dims(y, [2, 0, 1, 3]))
    results = [y]
    for states in finals:
        s = bb.emit(relax.op.stack(states, axis=0))  # [dirs, batch, H]
        results.append(bb.emit(relax.op.permute_dims(s, [1, 0, 2])) if layout else s)
    results = results[:max(1, len(node.output))]
    return results[0] if len(results) == 1 else relax.Tuple(results)


def _steps(bb, x, layout: int, reverse: bool):
    xs = recurrent.steps_of(bb, x, 1 if layout else 0)
    return xs[::-1] if reverse else xs


def lstm(bb: relax.BlockBuilder, node, inputs, attrs) -> relax.Expr:
    _, dirs = _check_common(node, inputs, attrs, _LSTM_ACTS)
    if int(attrs.get("input_forget", 0)):
        raise UnsupportedModelError("input_forget=1 (coupled input and forget gates)")
    layout = int(attrs.get("layout", 0))
    x, w, r = inputs[0], inputs[1], inputs[2]
    hidden = int(r.ty.shape[2])
    batch = int(x.ty.shape[0 if layout else 1])
    b, p = _input(inputs, 3), _input(inputs, 7)
    clip = float(attrs["clip"]) if "clip" in attrs else None
    outs, hs, cs = [], [], []
    for d, direction in enumerate(dirs):
        bias = None
        if b is not None:  # Wb + Rb: [8H] -> [4H]
            bd = bb.emit(_per_dir(b, d))
            bias = bb.emit(relax.op.add(relax.op.strided_slice(bd, axes=[0], begin=[0], end=[4 * hidden]),
                                        relax.op.strided_slice(bd, axes=[0], begin=[4 * hidden], end=[8 * hidden])))
        peep = {}
        if p is not None:  # [3H]: input, output, forget
            pd = bb.emit(_per_dir(p, d))
            for k, g in enumerate(("i", "o", "f")):
                peep[g] = bb.emit(relax.op.strided_slice(pd, axes=[0], begin=[k * hidden], end=[(k + 1) * hidden]))
        cell = recurrent.Cell(w=bb.emit(relax.op.permute_dims(_per_dir(w, d))),
                              r=bb.emit(relax.op.permute_dims(_per_dir(r, d))), bias=bias,
                              gates=("i", "o", "f", "c"), peephole=peep, clip=clip)
        h0 = _state(bb, inputs, 5, d, batch, hidden, layout)
        c0 = _state(bb, inputs, 6, d, batch, hidden, layout)
        seq, h, c = recurrent.lstm(bb, cell, _steps(bb, x, layout, direction == "reverse"), h0, c0)
        outs.append(seq[::-1] if direction == "reverse" else seq)
        hs.append(h)
        cs.append(c)
    return _outputs(bb, node, outs, [hs, cs], layout)


def gru(bb: relax.BlockBuilder, node, inputs, attrs) -> relax.Expr:
    _, dirs = _check_common(node, inputs, attrs, _GRU_ACTS)
    layout = int(attrs.get("layout", 0))
    x, w, r = inputs[0], inputs[1], inputs[2]
    hidden = int(r.ty.shape[2])
    batch = int(x.ty.shape[0 if layout else 1])
    b = _input(inputs, 3)
    clip = float(attrs["clip"]) if "clip" in attrs else None
    outs, hs = [], []
    lbr = bool(int(attrs.get("linear_before_reset", 0)))
    for d, direction in enumerate(dirs):
        bias, rb_h = None, relax.const(np.zeros(hidden, np.float32)) if lbr else None
        if b is not None:  # Wb [3H], Rb [3H]: all adds but Rb_h with linear_before_reset
            bd = bb.emit(_per_dir(b, d))
            wb = relax.op.strided_slice(bd, axes=[0], begin=[0], end=[3 * hidden])
            rb = relax.op.strided_slice(bd, axes=[0], begin=[3 * hidden], end=[(5 if lbr else 6) * hidden])
            if lbr:
                rb = relax.op.concat([rb, relax.const(np.zeros(hidden, np.float32))], axis=0)
                rb_h = bb.emit(relax.op.strided_slice(bd, axes=[0], begin=[5 * hidden], end=[6 * hidden]))
            bias = bb.emit(relax.op.add(wb, rb))
        cell = recurrent.Cell(w=bb.emit(relax.op.permute_dims(_per_dir(w, d))),
                              r=bb.emit(relax.op.permute_dims(_per_dir(r, d))), bias=bias,
                              gates=("z", "r", "h"), clip=clip)
        h0 = _state(bb, inputs, 5, d, batch, hidden, layout)
        seq, h = recurrent.gru(bb, cell, _steps(bb, x, layout, direction == "reverse"), h0, rb_h)
        outs.append(seq[::-1] if direction == "reverse" else seq)
        hs.append(h)
    return _outputs(bb, node, outs, [hs], layout)
