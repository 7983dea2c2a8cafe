"""Forms of supported ONNX operators that aotgen refuses, checked on the ONNX graph before TVM sees
it: tensor types the C cannot hold, training-mode and optional outputs nothing on an MCU uses,
and attribute values whose C would differ from ONNX's definition."""

from __future__ import annotations

from collections.abc import Callable

import onnx

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


FORM_CHECKS: dict[str, FormCheck] = {
    "BatchNormalization": _batchnorm,
    "Dropout": _dropout,
    "MaxPool": _maxpool,
    "ConvTranspose": _convtranspose,
    "SpaceToDepth": _spacetodepth,
    "Mod": _mod,
    "Pow": _pow,
}


def tensor_types(model: onnx.ModelProto) -> dict[str, str]:
    """Tensor name -> numpy dtype name, for every tensor ONNX's shape inference can type."""
    try:
        inferred = onnx.shape_inference.infer_shapes(model, strict_mode=False)
    except Exception:  # noqa: BLE001 - inference is a help for naming the operator, not a requirement
        inferred = model
    g = inferred.graph
    types = {}
    for v in [*g.input, *g.output, *g.value_info]:
        if v.type.HasField("tensor_type") and v.type.tensor_type.elem_type:
            types[v.name] = str(onnx.helper.tensor_dtype_to_np_dtype(v.type.tensor_type.elem_type))
        elif v.type.WhichOneof("value") is not None and not v.type.HasField("tensor_type"):
            types[v.name] = v.type.WhichOneof("value").removesuffix("_type")  # sequence, map, optional
    for t in g.initializer:
        types[t.name] = str(onnx.helper.tensor_dtype_to_np_dtype(t.data_type))
    return types


def check_forms(model: onnx.ModelProto) -> None:
    """Refuse, in one line naming the node, what the C cannot compute as ONNX defines it."""
    types = tensor_types(model)
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
