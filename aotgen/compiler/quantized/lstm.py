"""TFLite UNIDIRECTIONAL_SEQUENCE_LSTM, float and int8.

- float: unrolled over the time steps into matmul / add / sigmoid / tanh (compiler/recurrent.py);
- int8 (the "8x8_16" LSTM of TFLite and TFLite Micro: int8 input, weights and hidden state,
  int16 cell state with a power-of-two scale, gates in Q3.12 through int16 sigmoid / tanh): one
  call of the C kernel runtime/aotgen_lstm_s8.h for the whole sequence, bit-exact with LiteRT
  (TFLite Micro's kernel computes sigmoid / tanh its own way: 1 LSB apart). Its constants are
  prepared here as TFLite's Prepare (lstm.cc) prepares them: effective scales computed in float32
  and split by QuantizeMultiplier, input and hidden zero points folded into the biases.
  A kernel rather than an unrolled graph of int16 ops: the gate arithmetic (two clamped
  requantizations, gemmlowp's int16 logistic / tanh, rounding shifts of the cell) has no
  counterpart among the integer TE kernels, and one loop over the steps keeps the code size
  independent of the sequence length.

Both start every inference from the layer's initial state (the variable tensors' reset value:
zero, the zero point for int8), as a freshly reset TFLite interpreter does: no state is carried
from one inference to the next. Refused in one line: CIFG, peephole, projection and layer norm
LSTMs, activations other than tanh, per-channel or asymmetric int8 weights, int8 on AVR (weights
in __flash, which the C kernel's plain pointers cannot read)."""

from __future__ import annotations

import math

import numpy as np
from tvm import relax, te, tirx

from .. import c_helpers, recurrent
from .fc_call import c_kernels_enabled
from .params import quantize_multiplier

_OPTIONAL = {"peephole connections": (9, 10, 11),
             "projection": (16, 17), "layer normalization": (20, 21, 22, 23)}
_TANH = 4  # tflite.ActivationFunctionType.TANH
# The single-step LSTM and the fused bidirectional one (Keras Bidirectional converts to two
# UNIDIRECTIONAL_SEQUENCE_LSTMs instead): "unsupported operator" at their layer.
REFUSED = ("LSTM", "BIDIRECTIONAL_SEQUENCE_LSTM")


def _options(op):
    from tflite.UnidirectionalSequenceLSTMOptions import UnidirectionalSequenceLSTMOptions

    opts = UnidirectionalSequenceLSTMOptions()
    o = op.BuiltinOptions()  # present: refusal() checked it
    opts.Init(o.Bytes, o.Pos)
    return opts


def refusal(conv, op) -> str | None:
    """Why aotgen cannot compile this LSTM (None: it can). Checked before import."""
    ins = conv.get_input_tensors(op)
    if len(ins) != 24:
        return f"{len(ins)} inputs (24 expected)"
    if ins[1].tensor_idx == -1 or ins[5].tensor_idx == -1:
        return "CIFG (coupled input and forget gates) LSTM is not supported"
    for variant, indices in _OPTIONAL.items():
        if any(ins[i].tensor_idx != -1 for i in indices if i < len(ins)):
            return f"{variant} LSTM is not supported"
    # Without its options table the activation is the schema's default, NONE.
    if op.BuiltinOptions() is None or _options(op).FusedActivationFunction() != _TANH:
        return "an activation other than tanh"
    for i in (1, 2, 3, 4, 5, 6, 7, 8, 12, 13, 14, 15):
        if conv.has_expr(ins[i].tensor_idx):
            return "weights computed at run time (not constants)"
    if ins[0].tensor.Type() not in (0, 9):
        return "an input other than float32 or int8 (e.g. the 16x8 LSTM)"
    if ins[0].tensor.Type() == 0:
        return None
    for i in (1, 2, 3, 4, 5, 6, 7, 8):
        q = ins[i].tensor.Quantization()
        if ins[i].tensor.Type() != 9 or q is None or q.ScaleLength() != 1:
            return "weights other than int8 with one scale per tensor"
        if q.ZeroPointLength() and int(q.ZeroPoint(0)) != 0:
            return "int8 weights with a non-zero zero point"
    if any(ins[i].tensor.Type() != 2 for i in (12, 13, 14, 15)):
        return "biases other than int32"
    if not c_kernels_enabled():
        return ("an int8 LSTM for a CPU whose weights live in their own address space (AVR's __flash): "
                "its C kernel reads them through plain pointers")
    cell = ins[19].tensor
    if cell.Type() != 7:  # INT16
        return "an int8 LSTM whose cell state is not int16"
    log2 = math.log2(float(np.float32(cell.Quantization().Scale(0))))
    if abs(log2 - round(log2)) >= 1e-3 or not -30 <= round(log2) <= -9:
        return "a cell state scale that is not a power of two between 2^-30 and 2^-9"
    if op.IntermediatesLength() < 5:
        return "an int8 LSTM without its 5 intermediate tensors (not from TFLite's quantizer)"
    return None


def _initial_state(conv, tensor, shape, dtype: str, zero_point: int = 0) -> np.ndarray:
    """A variable tensor's reset value; a constant's data."""
    if tensor.tensor.IsVariable() or tensor.buffer is None or tensor.buffer.DataLength() == 0:
        return np.full(shape, zero_point, dtype)
    return np.asarray(conv.get_tensor_value(tensor), dtype).reshape(shape)


def convert(conv, op) -> relax.Expr:
    ins, outs = conv.get_input_tensors(op), conv.get_output_tensors(op)
    opts = _options(op)
    x = conv.get_tensor_expr(ins[0])
    time_major = bool(opts.TimeMajor())
    shape = [int(d) for d in ins[0].tensor.ShapeAsNumpy()]
    batch = shape[1] if time_major else shape[0]
    hidden = int(ins[2].tensor.ShapeAsNumpy()[0])
    w_in = np.stack([conv.get_tensor_value(ins[i]) for i in (1, 2, 3, 4)])  # [4, H, I], gates i f c o
    w_rec = np.stack([conv.get_tensor_value(ins[i]) for i in (5, 6, 7, 8)])  # [4, H, H]
    bias = np.stack([conv.get_tensor_value(ins[i]) for i in (12, 13, 14, 15)])  # [4, H]
    if ins[0].tensor.Type() == 9:
        return _int8(conv, op, ins, outs, x, time_major, batch, hidden, w_in, w_rec, bias, opts)
    cell = recurrent.Cell(w=relax.const(np.ascontiguousarray(w_in.reshape(4 * hidden, -1).T.astype("float32"))),
                          r=relax.const(np.ascontiguousarray(w_rec.reshape(4 * hidden, -1).T.astype("float32"))),
                          bias=relax.const(bias.reshape(-1).astype("float32")), gates=("i", "f", "c", "o"),
                          cell_clip=float(opts.CellClip()) or None)
    h0 = recurrent.zero_or(_initial_state(conv, ins[18], (batch, hidden), "float32"))
    c0 = recurrent.zero_or(_initial_state(conv, ins[19], (batch, hidden), "float32"))
    hs, _, _ = recurrent.lstm(conv.bb, cell, recurrent.steps_of(conv.bb, x, 0 if time_major else 1), h0, c0)
    return relax.op.stack(hs, axis=0 if time_major else 1)


def _scale(t) -> np.float32:
    return np.float32(t.tensor.Quantization().Scale(0))


def _zero_point(t) -> int:
    q = t.tensor.Quantization()
    return int(q.ZeroPoint(0)) if q.ZeroPointLength() else 0


def _int8(conv, op, ins, outs, x, time_major, batch, hidden, w_in, w_rec, bias, opts):
    """TFLite's PopulateQuantizedLstmParams8x8_16 and PopulatePrecomputedZPTimesWeightsWithBias."""
    s_in, zp_in = _scale(ins[0]), _zero_point(ins[0])
    s_state, zp_state = _scale(ins[18]), _zero_point(ins[18])
    cell_scale = float(_scale(ins[19]))
    cell_log2 = int(round(math.log2(cell_scale)))
    hid = conv.subgraph.Tensors(op.Intermediates(4))
    s_hidden = np.float32(hid.Quantization().Scale(0))
    zp_hidden = int(hid.Quantization().ZeroPoint(0)) if hid.Quantization().ZeroPointLength() else 0
    gate_scale = np.float32(2.0**-12)  # Q3.12: the intermediates of an LSTM without layer norm
    scales = []
    for g in range(4):
        for w, s in ((ins[1 + g], s_in), (ins[5 + g], s_state)):
            scales += quantize_multiplier(float(np.float32(_scale(w) * s) / gate_scale))
    scales += quantize_multiplier(float(np.float32(2.0**-15 / float(s_hidden) * 2.0**-15)))
    b_in = (bias.astype(np.int64) - zp_in * w_in.astype(np.int64).sum(axis=2)).astype(np.int32)
    b_rec = (-zp_state * w_rec.astype(np.int64).sum(axis=2)).astype(np.int32)
    clip = float(opts.CellClip())
    cell_clip = int(np.int16(min(max(np.float32(clip) / np.float32(cell_scale), -32768.0), 32767.0))) if clip > 0 else 0
    h0 = _initial_state(conv, ins[18], (batch, hidden), "int8", zp_state)
    c0 = _initial_state(conv, ins[19], (batch, hidden), "int16")
    out_shape = [int(d) for d in outs[0].tensor.ShapeAsNumpy()]
    params = dict(time_major=time_major, hidden_zp=zp_hidden, cell_log2=cell_log2, cell_clip=cell_clip,
                  out_shape=out_shape)
    consts = [w_in.astype(np.int8), w_rec.astype(np.int8), b_in, b_rec, np.asarray(scales, np.int32), h0, c0]
    return conv.bb.call_te(lambda *a: lstm_te(*a, **params), x, *map(relax.const, consts),
                           primfunc_name_hint="lstm_int8")


def _ptr(buf):
    return tirx.address_of(tirx.BufferLoad(buf, [tirx.const(0, "int32")] * len(buf.shape)))


def lstm_te(x, w_in, w_rec, b_in, b_rec, scales, h0, c0, *, time_major: bool, hidden_zp: int, cell_log2: int,
            cell_clip: int, out_shape):
    """The sequence as a `te.extern` calling <prefix>_lstm_s8, its gates and states in a scratch
    buffer the lowering lifts into the arena (kernels._lift_scratch)."""
    steps, batch = (int(x.shape[0]), int(x.shape[1])) if time_major else (int(x.shape[1]), int(x.shape[0]))
    n_input, hidden = int(x.shape[2]), int(w_in.shape[1])
    i32 = lambda v: tirx.const(int(v), "int32")  # noqa: E731

    def body(ins, outs):
        scratch = tirx.decl_buffer((5 * hidden + (hidden + 1) // 2,), "int16", name="lstm_state")
        call = c_helpers.call_kernel(
            "lstm_s8", _ptr(ins[0]), i32(batch), i32(steps), i32(n_input), i32(hidden), i32(time_major),
            _ptr(ins[1]), _ptr(ins[2]), _ptr(ins[3]), _ptr(ins[4]), _ptr(ins[5]), i32(hidden_zp), i32(cell_log2),
            i32(cell_clip), _ptr(ins[6]), _ptr(ins[7]), _ptr(outs[0]), scratch.access_ptr("rw"))
        return tirx.SeqStmt([tirx.AllocBuffer(scratch), tirx.Evaluate(call)])

    tensors = (x, w_in, w_rec, b_in, b_rec, scales, h0, c0)
    in_bufs = [tirx.decl_buffer(t.shape, t.dtype, name=f"in{i}") for i, t in enumerate(tensors)]
    out = tirx.decl_buffer(list(out_shape), "int8", name="out")
    return te.extern([list(out_shape)], list(tensors), body, name="lstm", dtype="int8",
                     in_buffers=in_bufs, out_buffers=[out])
