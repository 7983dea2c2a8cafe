"""Forms of supported ONNX operators that aotgen refuses, checked on the ONNX graph before TVM sees
it: tensor types the C cannot hold, training-mode and optional outputs nothing on an MCU uses,
and attribute values whose C would differ from ONNX's definition."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import onnx
from onnx import numpy_helper

from ..errors import UnsupportedModelError

# The tensor types the generated C carries (tensors.C_TYPES); int64 only inside, narrowed to int32.
C_DTYPES = {"float32", "int8", "uint8", "int16", "uint16", "int32", "uint32", "bool"}


def describe(i: int, node: onnx.NodeProto) -> str:
    return f"layer {i} ({node.op_type}, node '{node.name or (node.output[0] if node.output else '')}')"


def _attr(node: onnx.NodeProto, name: str, default=None):
    for a in node.attribute:
        if a.name == name:
            return onnx.helper.get_attribute_value(a)
    return default


def _used_outputs(node: onnx.NodeProto) -> int:
    return sum(1 for o in node.output if o)


# op_type -> a check returning why this node's form is refused, or None.
FormCheck = Callable[[onnx.NodeProto, dict[str, str]], "str | None"]


def _batchnorm(node, _types):
    if _attr(node, "training_mode", 0) or _used_outputs(node) > 1:
        return "training mode (running mean and variance outputs)"
    return None


def _dropout(node, _types):
    if _used_outputs(node) > 1:
        return "its mask output (dropout is the identity at inference)"
    if len(node.input) > 2 and node.input[2]:
        return "a training_mode input (random dropout)"
    return None


def _maxpool(node, _types):
    return "its Indices output" if _used_outputs(node) > 1 else None


def _convtranspose(node, _types):
    return "the output_shape attribute (give pads instead)" if _attr(node, "output_shape") else None


def _spacetodepth(node, _types):
    mode = _attr(node, "mode", b"DCR")
    return f"mode {mode.decode()}" if mode != b"DCR" else None


def _mod(node, types):
    if not _attr(node, "fmod", 0) and types.get(node.input[0], "float32").startswith("float"):
        return "fmod=0 on float tensors (Python-style modulo of floats)"
    return None


def _pow(node, types):
    a, b = types.get(node.input[0]), types.get(node.input[1])
    return f"a {b} exponent of a {a} base (mixed types)" if a and b and a != b else None


def _reduce_max_min(node, types):
    return "bool tensors" if types.get(node.input[0]) == "bool" else None


def _avg_pool(node, _types):
    if _attr(node, "ceil_mode", 0) and any(_attr(node, "pads", [])):
        return "ceil_mode with padding (TVM's last window differs from ONNX's)"
    return None


def _resize(node, _types):
    mode = _attr(node, "mode", b"nearest").decode()
    if mode not in ("nearest", "linear"):
        return f"mode {mode} (nearest and linear are compiled)"
    if _attr(node, "antialias", 0):
        return "antialias"
    ctm = _attr(node, "coordinate_transformation_mode", b"half_pixel").decode()
    if ctm in ("tf_crop_and_resize", "half_pixel_symmetric"):
        return f"coordinate_transformation_mode {ctm}"
    if _attr(node, "axes") is not None:
        return "the axes attribute"
    if mode == "linear" and any(s < 1 for s in _SCALES.get(node.output[0], [])):
        return "linear downsampling (TVM samples differently from ONNX)"
    return None


# Resize/Upsample output name -> its constant scales (set by check_forms).
_SCALES: dict[str, list[float]] = {}

def _split(node, _types):
    return "a split of size 0" if 0 in list(_SPLITS.get(node.output[0], [])) else None


# Split's first output -> its constant split sizes (set by check_forms).
_SPLITS: dict[str, list[int]] = {}

FORM_CHECKS: dict[str, FormCheck] = {
    "Split": _split,
    "ReduceMax": _reduce_max_min,
    "ReduceMin": _reduce_max_min,
    "AveragePool": _avg_pool,
    "Resize": _resize,
    "Upsample": _resize,
    "BatchNormalization": _batchnorm,
    "Dropout": _dropout,
    "MaxPool": _maxpool,
    "ConvTranspose": _convtranspose,
    "SpaceToDepth": _spacetodepth,
    "Mod": _mod,
    "Pow": _pow,
}


def tensor_types(model: onnx.ModelProto) -> tuple[dict[str, str], dict[str, list[int]]]:
    """Tensor name -> numpy dtype name and -> static shape, for every tensor ONNX's shape
    inference can type."""
    try:
        inferred = onnx.shape_inference.infer_shapes(model, strict_mode=False)
    except Exception:  # noqa: BLE001 - inference is a help for naming the operator, not a requirement
        inferred = model
    g = inferred.graph
    types, shapes = {}, {}
    for v in [*g.input, *g.output, *g.value_info]:
        if v.type.HasField("tensor_type") and v.type.tensor_type.elem_type:
            types[v.name] = str(onnx.helper.tensor_dtype_to_np_dtype(v.type.tensor_type.elem_type))
            dims = v.type.tensor_type.shape.dim
            if all(d.HasField("dim_value") for d in dims):
                shapes[v.name] = [d.dim_value for d in dims]
        elif v.type.WhichOneof("value") is not None and not v.type.HasField("tensor_type"):
            types[v.name] = v.type.WhichOneof("value").removesuffix("_type")  # sequence, map, optional
    for t in g.initializer:
        types[t.name] = str(onnx.helper.tensor_dtype_to_np_dtype(t.data_type))
    return types, shapes


def _resize_scales(model: onnx.ModelProto, shapes: dict[str, list[int]]) -> dict[str, list[float]]:
    """Each Resize/Upsample's scales where the graph fixes them: constant scales, or input and
    output shapes."""
    consts = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    found = {}
    for node in model.graph.node:
        if node.op_type not in ("Resize", "Upsample"):
            continue
        scales = _attr(node, "scales")
        for name in node.input[1:]:
            if name in consts and consts[name].dtype == np.float32 and consts[name].size:
                scales = consts[name]
        x, y = shapes.get(node.input[0]), shapes.get(node.output[0])
        if scales is None and x and y:
            scales = [b / a for a, b in zip(x, y) if a]
        if scales is not None:
            found[node.output[0]] = [float(s) for s in scales]
    return found


def check_forms(model: onnx.ModelProto) -> None:
    """Refuse, in one line naming the node, what the C cannot compute as ONNX defines it."""
    types, shapes = tensor_types(model)
    _SCALES.clear()
    _SCALES.update(_resize_scales(model, shapes))
    consts = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    _SPLITS.clear()
    _SPLITS.update({n.output[0]: [int(v) for v in consts[n.input[1]].reshape(-1)] for n in model.graph.node
                    if n.op_type == "Split" and len(n.input) > 1 and n.input[1] in consts})
    for i, node in enumerate(model.graph.node):
        for name in [*node.input, *node.output]:
            dtype = types.get(name)
            if name and dtype is not None and dtype not in C_DTYPES and dtype != "int64":
                raise UnsupportedModelError(
                    f"unsupported form of operator {node.op_type} at {describe(i, node)}: {dtype} tensor '{name}'; "
                    "aotgen compiles float32 and 8/16/32-bit integer tensors")
        check = FORM_CHECKS.get(node.op_type)
        why = check(node, types) if check else None
        if why:
            raise UnsupportedModelError(f"unsupported form of operator {node.op_type} at {describe(i, node)}: {why}")
