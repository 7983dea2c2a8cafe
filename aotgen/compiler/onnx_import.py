"""ONNX -> Relax: which operators aotgen compiles and in which forms, and TVM's importer run so
that every failure names the operator and node instead of a traceback from inside TVM.

What "supported" means is measured, not hoped: tests/test_onnx_conformance.py runs ONNX's own
node test cases through the compiled C; every case of an operator in `SUPPORTED` passes, every
other case is refused here in one line.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from dataclasses import dataclass

import onnx
import tvm
from tvm import relax

from ..errors import AotgenError, UnsupportedModelError
from .int64_narrow import narrow_int64
from .model_check import InvalidModel, first_line
from .onnx_converters import CONVERTERS
from .onnx_forms import C_DTYPES, check_forms, describe

# Operators whose every form in ONNX's node tests compiles to C that matches, except the forms
# onnx_forms.check_forms refuses by name.
SUPPORTED = frozenset("""
Abs Acos Acosh Add And ArgMax ArgMin Asin Asinh Atan Atanh AveragePool BatchNormalization BitwiseAnd
BitwiseNot BitwiseOr BitwiseXor Cast CastLike Ceil Celu Clip Concat Constant ConstantOfShape Conv
ConvTranspose Cos Cosh DepthToSpace DequantizeLinear Div Dropout Elu Equal Erf Exp Expand Flatten Floor
GRU Gather Gelu Gemm GlobalAveragePool GlobalLpPool GlobalMaxPool Greater GreaterOrEqual HardSigmoid HardSwish
Hardmax Identity InstanceNormalization IsInf IsNaN LRN LayerNormalization LeakyRelu Less LessOrEqual Log
LSTM LogSoftmax LpPool MatMul Max MaxPool Mean MeanVarianceNormalization Min Mish Mod Mul Neg Not Or PRelu Pad
Pow QuantizeLinear Reciprocal ReduceL1 ReduceL2 ReduceLogSum ReduceLogSumExp ReduceMax ReduceMean ReduceMin
ReduceProd ReduceSum ReduceSumSquare Relu Reshape Resize Round Selu Shape Shrink Sigmoid Sign Sin Sinh Size
Slice Softmax Softplus Softsign SpaceToDepth Split Sqrt Squeeze Sub Sum Swish Tan Tanh ThresholdedRelu Tile
Transpose Unsqueeze Upsample Where Xor
""".split())

# QOperator-format quantized ops: TVM imports only the QDQ format (QuantizeLinear/DequantizeLinear).
QOPERATORS = {"QLinearConv", "QLinearMatMul", "QGemm", "QLinearAdd", "QLinearMul", "QLinearSoftmax",
              "QLinearAveragePool", "QLinearGlobalAveragePool", "QLinearConcat", "ConvInteger",
              "MatMulInteger", "DynamicQuantizeLinear"}


@dataclass
class OnnxImport:
    mod: tvm.IRModule
    names_in: list[str]
    names_out: list[str]
    operators: list[str]
    model_dtypes: list[str]  # each output's dtype in the model (int64 where the C gives int32)


def load_onnx(path, data: bytes) -> OnnxImport:
    try:
        model = onnx.load_model_from_string(data)
        onnx.checker.check_model(model)
    except Exception as e:
        raise InvalidModel(f"{path} is not a valid ONNX model ({first_line(e)})") from None
    graph = model.graph
    for i, node in enumerate(graph.node):
        if node.op_type in QOPERATORS:
            raise UnsupportedModelError(
                f"unsupported operator {node.op_type} at {describe(i, node)}: QOperator-format quantization; "
                "export the model in QDQ format (QuantizeLinear/DequantizeLinear around float ops)")
        if node.domain not in ("", "ai.onnx") or node.op_type not in SUPPORTED:
            domain = f" (domain {node.domain})" if node.domain not in ("", "ai.onnx") else ""
            raise UnsupportedModelError(f"unsupported operator {node.op_type}{domain} at {describe(i, node)}")
    initializers = {i.name for i in graph.initializer}
    inputs = [i for i in graph.input if i.name not in initializers]
    shape_dict, dtype_dict = {}, {}
    for inp in inputs:
        shape_dict[inp.name] = _static_shape(inp)
        dtype_dict[inp.name] = _input_dtype(inp)
    check_forms(model)
    mod = _import(model, shape_dict, dtype_dict)
    model_dtypes = [_elem_dtype(o) for o in graph.output]
    try:
        mod = narrow_int64(mod)
    except AotgenError:
        raise
    except Exception as e:
        raise UnsupportedModelError(f"int64 tensors aotgen cannot narrow to int32: {first_line(e)}") from None
    return OnnxImport(mod, [i.name for i in inputs], [o.name for o in graph.output],
                      [n.op_type for n in graph.node], model_dtypes)


def _static_shape(inp: onnx.ValueInfoProto) -> list[int]:
    dims = []
    for d in inp.type.tensor_type.shape.dim:
        if d.HasField("dim_value") and d.dim_value > 0:
            dims.append(d.dim_value)
        elif not dims:
            dims.append(1)  # a symbolic batch dimension: compile for batch 1
        else:
            raise UnsupportedModelError(f"input '{inp.name}' has a dynamic dimension '{d.dim_param}'; aotgen needs static shapes")
    return dims


def _elem_dtype(value: onnx.ValueInfoProto) -> str:
    elem = value.type.tensor_type.elem_type
    if not value.type.HasField("tensor_type") or elem == 0:
        return "?"
    return str(onnx.helper.tensor_dtype_to_np_dtype(elem))


def _input_dtype(inp: onnx.ValueInfoProto) -> str:
    if not inp.type.HasField("tensor_type"):
        raise UnsupportedModelError(f"input '{inp.name}' is not a tensor (a sequence, map or optional); aotgen compiles tensors")
    dtype = _elem_dtype(inp)
    if dtype == "int64":
        raise UnsupportedModelError(f"input '{inp.name}' is int64: the generated C has no 64-bit integers; give the "
                                    "model an int32 input, or make the tensor a constant (initializer)")
    if dtype not in C_DTYPES:
        raise UnsupportedModelError(f"input '{inp.name}' is {dtype}: aotgen compiles float32 and 8/16/32-bit integer tensors")
    return dtype


def _import(model: onnx.ModelProto, shape_dict: dict, dtype_dict: dict) -> tvm.IRModule:
    from tvm.relax.frontend.onnx.onnx_frontend import ONNXGraphImporter

    nodes = list(model.graph.node)

    class Importer(ONNXGraphImporter):
        """TVM's importer with aotgen's converters first and every failure named by node."""

        index = 0

        def _check_for_unsupported_ops(self, graph):
            pass  # load_onnx checked every node against SUPPORTED, aotgen's converters included

        def _convert_operator(self, op_name, inputs, attrs, opset):
            i, node = self.index, nodes[self.index]
            self.index += 1
            try:
                own = CONVERTERS.get(op_name)
                sym = own(self.bb, node, inputs, attrs) if own else super()._convert_operator(op_name, inputs, attrs, opset)
                if own is not None and isinstance(sym, relax.Expr):
                    sym = self.bb.normalize(sym)
            except AotgenError as e:
                raise UnsupportedModelError(f"unsupported form of operator {op_name} at {describe(i, node)}: {e}") from None
            except Exception as e:
                raise UnsupportedModelError(f"unsupported form of operator {op_name} at {describe(i, node)} (TVM's "
                                            f"importer: {first_line(e)})") from None
            _check_static(sym, op_name, describe(i, node))
            return sym

    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 1)
    importer = Importer(shape_dict, dtype_dict)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            # TVM renames inputs that are not identifiers ("input.a" -> "input_a") and says so; the
            # signature keeps the model's own names, so the notice is noise (and breaks --json).
            # On failure its importer prints the inputs to stdout: noise too.
            warnings.simplefilter("ignore")
            return importer.from_onnx(model.graph, opset)
    except (AotgenError, ImportError, NameError):  # ours, or a broken installation: not the model's fault
        _close_blocks(importer.bb)
        raise
    except Exception as e:
        _close_blocks(importer.bb)
        # Raised between conversions (an input it cannot take): the node it was about to convert.
        at = importer.index
        where = f"unsupported form of operator {nodes[at].op_type} at {describe(at, nodes[at])}" if at < len(nodes) \
            else "unsupported model"
        raise UnsupportedModelError(f"{where} (TVM's importer: {first_line(e)})") from None


def _check_static(sym, op_name: str, layer: str) -> None:
    """Every tensor a node produces has a static shape and a type the C can hold."""
    ty = getattr(sym, "ty", None)
    fields = list(ty.fields) if isinstance(ty, relax.TupleType) else [ty]
    for f in fields:
        if isinstance(f, relax.TensorType):
            if f.shape is None or not all(isinstance(d, tvm.tirx.IntImm) for d in f.shape.values):
                raise UnsupportedModelError(f"unsupported form of operator {op_name} at {layer}: its output shape "
                                            "depends on input values; aotgen needs static shapes (make the shape "
                                            "inputs constants)")


def _close_blocks(bb: relax.BlockBuilder) -> None:
    """End the importer's open blocks, or TVM warns from C++ when the builder is destroyed."""
    for _ in range(4):
        try:
            bb._end_block()
        except Exception:  # noqa: BLE001 - no block left
            return
