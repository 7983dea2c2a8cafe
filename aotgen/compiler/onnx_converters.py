"""aotgen's own converters for ONNX operators TVM's importer gets wrong, tried before TVM's:
`CONVERTERS[op_type](bb, node, inputs, attrs)` returns the Relax expression (a Tuple for several
outputs)."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import numpy_helper
import tvm
from tvm import relax

from ..errors import UnsupportedModelError
from . import onnx_recurrent


def _layer_norm(bb: relax.BlockBuilder, node, inputs, attrs) -> relax.Expr:
    """LayerNormalization with its optional Mean and InvStdDev outputs (TVM's importer returns
    scalars there): both have x's shape with the normalized axes kept as 1."""
    x, scale, bias = inputs[0], inputs[1], inputs[2] if len(inputs) > 2 else None
    rank = len(x.ty.shape)
    axis = int(attrs.get("axis", -1)) % rank
    eps = float(attrs.get("epsilon", 1e-5))
    axes = list(range(axis, rank))
    if bias is None:
        bias = relax.const(np.zeros([int(d) for d in scale.ty.shape], "float32"))
    if sum(1 for o in node.output if o) == 1:
        return relax.op.nn.layer_norm(x, scale, bias, axes, eps)
    mean = bb.emit(relax.op.mean(x, axes, keepdims=True))
    centered = bb.emit(relax.op.subtract(x, mean))
    var = bb.emit(relax.op.mean(relax.op.multiply(centered, centered), axes, keepdims=True))
    inv_std = bb.emit(relax.op.divide(relax.const(1.0, "float32"),
                                      relax.op.sqrt(relax.op.add(var, relax.const(eps, "float32")))))
    y = bb.emit(relax.op.add(relax.op.multiply(relax.op.multiply(centered, inv_std), scale), bias))
    return relax.Tuple([y, mean, inv_std])


def _is_inf(bb: relax.BlockBuilder, node, inputs, attrs) -> relax.Expr:
    """IsInf with detect_positive/detect_negative (TVM's importer ignores both)."""
    x = inputs[0]
    inf = relax.op.isinf(x)
    zero = relax.const(0.0, str(x.ty.dtype))
    pos, neg = int(attrs.get("detect_positive", 1)), int(attrs.get("detect_negative", 1))
    if pos and neg:
        return inf
    if not pos and not neg:
        return relax.op.logical_and(inf, relax.op.less(x, x))  # all false
    return relax.op.logical_and(inf, relax.op.greater(x, zero) if pos else relax.op.less(x, zero))


def _constant(bb: relax.BlockBuilder, node, inputs, attrs) -> relax.Expr:
    """Constant in every attribute form (TVM's importer reads only `value`)."""
    for a in node.attribute:
        if a.name == "value":
            return relax.const(numpy_helper.to_array(a.t))
        if a.name in ("value_float", "value_floats"):
            return relax.const(np.asarray(onnx.helper.get_attribute_value(a), np.float32))
        if a.name in ("value_int", "value_ints"):
            return relax.const(np.asarray(onnx.helper.get_attribute_value(a), np.int64))
    raise UnsupportedModelError("a sparse or string constant")


def _upsample(bb: relax.BlockBuilder, node, inputs, attrs) -> relax.Expr:
    """Upsample (deprecated Resize): scales as an attribute (opset 7) or a constant input (9),
    ONNX's asymmetric coordinates, nearest rounding down."""
    x = inputs[0]
    scales = attrs.get("scales")
    if scales is None:
        const = inputs[1] if len(inputs) > 1 else None
        if not isinstance(const, tvm.ir.GenericConst):
            raise UnsupportedModelError("scales given at run time; aotgen needs static shapes")
        scales = const.value.numpy().tolist()
    shape = [int(d) for d in x.ty.shape.values]
    if len(shape) != 4 or scales[0] != 1 or scales[1] != 1:
        raise UnsupportedModelError("other than NCHW with scales [1, 1, h, w]")
    mode = attrs.get("mode", b"nearest")
    mode = mode.decode() if isinstance(mode, bytes) else mode
    if mode not in ("nearest", "linear"):
        raise UnsupportedModelError(f"mode {mode}")
    size = (int(shape[2] * scales[2]), int(shape[3] * scales[3]))
    return relax.op.image.resize2d(x, size, layout="NCHW", method="nearest_neighbor" if mode == "nearest" else "linear",
                                   coordinate_transformation_mode="asymmetric", rounding_method="floor")


def _swish(bb: relax.BlockBuilder, node, inputs, attrs) -> relax.Expr:
    x = inputs[0]
    alpha = relax.const(float(attrs.get("alpha", 1.0)), str(x.ty.dtype))
    return relax.op.multiply(x, relax.op.sigmoid(relax.op.multiply(x, alpha)))


def _celu(bb: relax.BlockBuilder, node, inputs, attrs) -> relax.Expr:
    """max(0, x) + min(0, alpha * (exp(x / alpha) - 1))."""
    x = inputs[0]
    dtype = str(x.ty.dtype)
    alpha = relax.const(float(attrs.get("alpha", 1.0)), dtype)
    zero, one = relax.const(0.0, dtype), relax.const(1.0, dtype)
    negative = relax.op.multiply(alpha, relax.op.subtract(relax.op.exp(relax.op.divide(x, alpha)), one))
    return relax.op.add(relax.op.maximum(x, zero), relax.op.minimum(negative, zero))


CONVERTERS = {
    "Upsample": _upsample,
    "Swish": _swish,
    "Celu": _celu,
    "Constant": _constant,
    "IsInf": _is_inf,
    "LayerNormalization": _layer_norm,
    "LSTM": onnx_recurrent.lstm,
    "GRU": onnx_recurrent.gru,
}
