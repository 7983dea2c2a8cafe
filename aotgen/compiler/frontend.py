"""Model files (.tflite, .onnx) -> TVM Relax, plus the signature users see (names, quantization).

Unsupported models are refused here, before TVM sees them, with the operator and layer named.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import tvm
from tvm import relax

from ..errors import AotgenError, UnsupportedModelError
from .model_check import InvalidModel, first_line, verify_tflite
from .tensors import ModelSignature, Quantization, TensorInfo, c_identifier


@dataclass
class ImportedModel:
    path: Path
    format: str  # "tflite" or "onnx"
    sha256: str
    mod: tvm.IRModule
    signature: ModelSignature
    operators: list[str]  # one entry per layer, in model order
    # (name of the variable a layer's result is bound to in main, "layer i (OP, output 'y')"), for
    # naming the layer TVM fails on (diagnose.py); TFLite only
    layers: list[tuple[str, str]] = field(default_factory=list)


def detect_format(path: Path, data: bytes) -> str:
    # A TFLite flatbuffer carries its file identifier at bytes 4..8.
    if data[4:8] == b"TFL3":
        return "tflite"
    if path.suffix.lower() == ".onnx" or data[:1] == b"\x08":
        return "onnx"
    raise InvalidModel(f"{path} is not a TFLite (.tflite) or ONNX (.onnx) model")


def load_model(path: str | Path) -> ImportedModel:
    path = Path(path)
    if not path.is_file():
        raise AotgenError(f"model file not found: {path}")
    data = path.read_bytes()
    if len(data) < 8:
        raise InvalidModel(f"{path} is not a TFLite (.tflite) or ONNX (.onnx) model")
    fmt = detect_format(path, data)
    loader = _load_tflite if fmt == "tflite" else _load_onnx
    layers: list[tuple[str, str]] = []
    mod, signature, operators = loader(path, data, layers)
    return ImportedModel(path, fmt, hashlib.sha256(data).hexdigest(), mod, signature, operators, layers)


def _main_types(mod: tvm.IRModule) -> tuple[list, list]:
    """(shape, dtype) of main's parameters and results, the truth after import."""
    main = mod["main"]

    def sd(ty):
        return [int(d) for d in ty.shape.values], str(ty.dtype)

    params = [sd(p.ty) for p in main.params]
    ret = main.ret_ty
    rets = [sd(f) for f in ret.fields] if hasattr(ret, "fields") else [sd(ret)]
    return params, rets


def _signature(names_in, names_out, quant_in, quant_out, mod) -> ModelSignature:
    params, rets = _main_types(mod)
    taken: set[str] = set()
    sig = ModelSignature()
    for names, quants, types, dest in ((names_in, quant_in, params, sig.inputs), (names_out, quant_out, rets, sig.outputs)):
        for name, q, (shape, dtype) in zip(names, quants, types):
            dest.append(TensorInfo(name, c_identifier(name, taken), shape, dtype, q))
    return sig


# ---------------------------------------------------------------------------------------- TFLite

_TFLITE_TYPES = {0: "float32", 1: "float16", 2: "int32", 3: "uint8", 4: "int64", 6: "bool", 7: "int16", 9: "int8"}


def _tflite_quant(tensor) -> Quantization | None:
    q = tensor.Quantization()
    if q is None or q.ScaleLength() == 0:
        return None
    if q.ScaleLength() > 1:
        return None  # per-channel: only weights are quantized this way, never model I/O
    return Quantization(float(q.Scale(0)), int(q.ZeroPoint(0)) if q.ZeroPointLength() else 0)


def _tflite_converter_class(layers: list[tuple[str, str]] | None = None):
    from tvm.relax.frontend.tflite.tflite_frontend import OperatorConverter

    from .quantized import INTEGER_ONLY_INT8_OPS, LAYOUT_ONLY_INT8_OPS, IntegerConverters, lstm

    class Converter(IntegerConverters, OperatorConverter):
        """TVM's converter, with unsupported layers reported by name and index, and int8
        operators lowered to integer arithmetic."""

        _SUPPORTED_QUANTIZED_OPS = OperatorConverter._SUPPORTED_QUANTIZED_OPS | LAYOUT_ONLY_INT8_OPS | INTEGER_ONLY_INT8_OPS

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self._fix_relax_op_partials()
            self.install_integer_converters()
            for name, fn in self.convert_map.items():
                self.convert_map[name] = self._bound(fn)

        def _fix_relax_op_partials(self):
            """TVM 0.27 maps MEAN, SUM, REDUCE_*, REDUCE_ANY/ALL, LOGICAL_AND/OR to
            partial(f, relax_op=...) where f takes (relax_op, op): the op then collides with the
            keyword ("got multiple values for argument 'relax_op'")."""
            import inspect

            for name, fn in list(self.convert_map.items()):
                func = getattr(fn, "func", None)
                if func is None or "relax_op" not in fn.keywords:
                    continue
                if list(inspect.signature(func).parameters)[:1] == ["relax_op"]:
                    self.convert_map[name] = lambda op, f=func, r=fn.keywords["relax_op"]: f(r, op)

        def convert_expand_dims(self, op):
            """TVM 0.27's converter calls relax.op.expand_dims with a stray third argument."""
            ins = self.get_input_tensors(op)
            axis = int(np.asarray(self.get_tensor_value(ins[1])).reshape(-1)[0])
            return relax.op.expand_dims(self.get_tensor_expr(ins[0]), axis)

        def _bound(self, fn):
            """Bind each layer's result to a variable: TVM's converters return unbound calls,
            which every consumer would otherwise re-emit, computing the layer twice."""

            def convert(op):
                try:
                    ret = fn(op)
                except UnsupportedModelError as e:  # raised by our converters: name the layer
                    raise UnsupportedModelError(f"{self._describe_layer(op)}: {e}") from None
                ret = self.bb.emit(ret) if isinstance(ret, relax.Call) else ret
                if layers is not None and isinstance(ret, relax.Var):
                    layers.append((ret.name, self._describe_layer(op)))
                return ret

            return convert

        def _describe_layer(self, op) -> str:
            index = next((i for i in range(self.subgraph.OperatorsLength())
                          if self.subgraph.Operators(i)._tab.Pos == op._tab.Pos), None)
            outs = self.get_output_tensors(op)
            out_name = outs[0].tensor.Name().decode() if outs else ""
            if len(out_name) > 60:  # converters join fused op names with ';'
                out_name = out_name.split(";")[0][:57] + "..."
            return f"layer {index} ({self.get_op_code_str(op)}, output '{out_name}')"

        def check_unsupported_ops(self):
            for i in range(self.subgraph.OperatorsLength()):
                op = self.subgraph.Operators(i)
                name = self.get_op_code_str(op)
                outs = self.get_output_tensors(op)
                out_name = outs[0].tensor.Name().decode() if outs else ""
                if len(out_name) > 60:  # converters join fused op names with ';'
                    out_name = out_name.split(";")[0][:57] + "..."
                layer = f"layer {i} ({name}, output '{out_name}')" if outs else f"layer {i} ({name})"
                if name not in self.convert_map:
                    raise UnsupportedModelError(f"unsupported operator {name} at {layer}")
                if name == "UNIDIRECTIONAL_SEQUENCE_LSTM" and (why := lstm.refusal(self, op)):
                    raise UnsupportedModelError(f"unsupported form of operator {name} at {layer}: {why}")
                ins = self.get_input_tensors(op)
                q_in = any(t.qnn_params is not None for t in ins[:1])
                q_w = any(t.qnn_params is not None for t in ins[1:])
                q_out = any(t.qnn_params is not None for t in outs)
                if q_w and not q_in and not q_out:
                    raise UnsupportedModelError(
                        f"not supported: dynamic-range quantization ({layer} has int8 weights but float "
                        "activations, quantized at run time). Export the model fully int8-quantized "
                        "(with a representative dataset) or as float32."
                    )
                if (q_in or q_w or q_out) and name not in self._SUPPORTED_QUANTIZED_OPS:
                    raise UnsupportedModelError(f"unsupported quantized operator {name} at {layer}")

    return Converter


# TFLite operators that call other subgraphs (control flow): aotgen compiles models of one subgraph.
SUBGRAPH_OPS = frozenset({"IF", "WHILE", "CALL", "CALL_ONCE", "STABLEHLO_WHILE", "STABLEHLO_COMPOSITE"})
# Operator codes that mark something else than a tensor operator (TVM's converter refuses them when called).
MARKER_OPS = frozenset({"DELEGATE", "PLACEHOLDER_FOR_GREATER_OP_CODES"})


def tflite_converters() -> tuple[frozenset[str], frozenset[str]]:
    """(the TFLite operators the importer converts, those of them it takes int8-quantized): what
    check_unsupported_ops accepts, before the refusals of SUBGRAPH_OPS and MARKER_OPS."""
    from tvm.relax.frontend.tflite.tflite_frontend import ExprTable

    converter = _tflite_converter_class()
    ops = frozenset(converter(None, None, ExprTable(), relax.BlockBuilder()).convert_map)
    return ops, frozenset(converter._SUPPORTED_QUANTIZED_OPS) & ops


def _load_tflite(path: Path, data: bytes, layers: list[tuple[str, str]]):
    from tflite.BuiltinOperator import BuiltinOperator
    from tvm.relax.frontend.tflite import from_tflite

    model = verify_tflite(path, data)
    sg = model.Subgraphs(0)
    code_names = {v: k for k, v in BuiltinOperator.__dict__.items() if not k.startswith("_")}
    operators = []
    for i in range(sg.OperatorsLength()):
        oc = model.OperatorCodes(sg.Operators(i).OpcodeIndex())
        code = max(oc.BuiltinCode(), oc.DeprecatedBuiltinCode())
        operators.append(code_names.get(code, f"BUILTIN_{code}"))
    refused = next((i for i, name in enumerate(operators) if name in SUBGRAPH_OPS | MARKER_OPS), None)
    if refused is not None:
        what = "calls other subgraphs (control flow)" if operators[refused] in SUBGRAPH_OPS else "is not a tensor operator"
        raise UnsupportedModelError(f"{path}: layer {refused} ({operators[refused]}) {what}, which aotgen does not compile")
    if model.SubgraphsLength() > 1:
        raise UnsupportedModelError(f"{path}: models with {model.SubgraphsLength()} subgraphs (control flow) are not supported")

    def io(indices):
        names, quants = [], []
        for idx in indices:
            t = sg.Tensors(int(idx))
            names.append(t.Name().decode())
            quants.append(_tflite_quant(t))
        return names, quants

    names_in, quant_in = io(sg.InputsAsNumpy())
    names_out, quant_out = io(sg.OutputsAsNumpy())
    try:
        # Refuse unsupported layers before from_tflite opens its function frame: raising inside
        # it leaves the BlockBuilder open and TVM logs a C++ warning under the one-line error.
        from tvm import relax
        from tvm.relax.frontend.tflite.tflite_frontend import ExprTable

        converter = _tflite_converter_class()
        converter(model, sg, ExprTable(), relax.BlockBuilder()).check_unsupported_ops()
        mod = from_tflite(model, op_converter=_tflite_converter_class(layers))
    except (AotgenError, ImportError, NameError):  # ours, or a broken installation: not the model's fault
        raise
    except Exception as e:
        raise UnsupportedModelError(f"{path}: TVM's TFLite importer failed: {first_line(e)}") from None
    return mod, _signature(names_in, names_out, quant_in, quant_out, mod), operators


# ------------------------------------------------------------------------------------------ ONNX

def _load_onnx(path: Path, data: bytes, _layers: list[tuple[str, str]]):
    from .onnx_import import load_onnx  # supported operators and forms, int64 narrowed

    imported = load_onnx(path, data)
    mod = imported.mod
    none = [None] * max(len(imported.names_in), len(imported.names_out))
    signature = _signature(imported.names_in, imported.names_out, none, none, mod)
    for t, model_dtype in zip(signature.outputs, imported.model_dtypes):
        if model_dtype != t.dtype and model_dtype == "int64":
            t.model_dtype = model_dtype  # narrowed: the header says so, comparisons cast
    return mod, signature, imported.operators
