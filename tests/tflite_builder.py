"""Single-operator (or few-operator) TFLite models built from scratch with the flatbuffers
builders of the `tflite` package, for operator tests in the style of TFLite Micro's.

There is no TensorFlow here: a model is described tensor by tensor and operator by operator,
then serialized (`ModelSpec.to_bytes`). LiteRT loads and runs these files, so its reference
kernels can judge the generated code.

    m = ModelSpec()
    x = m.input("x", [1, 8, 8, 3], "int8", scale=0.05, zero_point=-3)
    w = m.const("w", weights_int8, scale=w_scales, quantized_dimension=0)
    ...
    y = m.activation("y", [1, 8, 8, 4], "int8", scale=0.1, zero_point=5)
    m.op("CONV_2D", [x, w, b], [y], "Conv2DOptions", Padding=SAME, StrideH=1, ...)
    path.write_bytes(m.to_bytes(outputs=[y]))
"""

from __future__ import annotations

from dataclasses import dataclass, field

import flatbuffers
import numpy as np
import tflite
from tflite.BuiltinOperator import BuiltinOperator
from tflite.BuiltinOptions import BuiltinOptions
from tflite.Padding import Padding
from tflite.ActivationFunctionType import ActivationFunctionType

SAME, VALID = Padding.SAME, Padding.VALID
NONE, RELU, RELU6 = ActivationFunctionType.NONE, ActivationFunctionType.RELU, ActivationFunctionType.RELU6

_TYPES = {"float32": 0, "int32": 2, "uint8": 3, "int64": 4, "int16": 7, "int8": 9}


@dataclass
class _Tensor:
    name: str
    shape: list[int]
    dtype: str
    data: np.ndarray | None
    scale: np.ndarray | None
    zero_point: np.ndarray | None
    quantized_dimension: int


@dataclass
class _Op:
    code: int
    version: int
    inputs: list[int]
    outputs: list[int]
    options_type: str | None
    options: dict


@dataclass
class ModelSpec:
    tensors: list[_Tensor] = field(default_factory=list)
    ops: list[_Op] = field(default_factory=list)
    inputs: list[int] = field(default_factory=list)

    # -- tensors
    def _add(self, name, shape, dtype, data=None, scale=None, zero_point=None, quantized_dimension=0) -> int:
        if scale is not None:
            scale = np.atleast_1d(np.asarray(scale, dtype=np.float32))
            zp = np.zeros(scale.size, np.int64) if zero_point is None else np.atleast_1d(np.asarray(zero_point, np.int64))
            zero_point = np.broadcast_to(zp, scale.shape).copy()
        self.tensors.append(_Tensor(name, [int(d) for d in shape], dtype, data, scale, zero_point, quantized_dimension))
        return len(self.tensors) - 1

    def input(self, name, shape, dtype, scale=None, zero_point=None) -> int:
        idx = self._add(name, shape, dtype, scale=scale, zero_point=zero_point)
        self.inputs.append(idx)
        return idx

    def activation(self, name, shape, dtype, scale=None, zero_point=None) -> int:
        return self._add(name, shape, dtype, scale=scale, zero_point=zero_point)

    def const(self, name, data: np.ndarray, scale=None, zero_point=None, quantized_dimension=0) -> int:
        data = np.array(data, order="C")  # not ascontiguousarray: it makes scalars 1-D
        return self._add(name, data.shape, str(data.dtype), data, scale, zero_point, quantized_dimension)

    # -- operators
    def op(self, name: str, inputs: list[int], outputs: list[int], options_type: str | None = None,
           version: int = 1, **options) -> None:
        """`options_type` names the builtin options table (e.g. "Conv2DOptions"); `options` are its
        fields by their schema names (Padding=SAME, StrideW=2, NewShape=[1, 4], ...)."""
        self.ops.append(_Op(getattr(BuiltinOperator, name), version, list(inputs), list(outputs), options_type, options))

    # -- serialization
    def to_bytes(self, outputs: list[int]) -> bytes:
        b = flatbuffers.Builder(1024)
        buffers = [b""]  # buffer 0: the empty sentinel every activation tensor points at
        tensor_buffer = []
        for t in self.tensors:
            if t.data is None:
                tensor_buffer.append(0)
            else:
                buffers.append(t.data.astype(t.data.dtype.newbyteorder("<")).tobytes())
                tensor_buffer.append(len(buffers) - 1)

        buffer_offs = [_buffer(b, data) for data in buffers]
        tensor_offs = [_tensor(b, t, buf) for t, buf in zip(self.tensors, tensor_buffer)]
        codes = sorted({(op.code, op.version) for op in self.ops})
        code_offs = [_opcode(b, code, version) for code, version in codes]
        op_offs = [_operator(b, op, codes.index((op.code, op.version))) for op in self.ops]

        name = b.CreateString("main")
        tensors_vec = _offsets(b, tflite.SubGraphStartTensorsVector, tensor_offs)
        inputs_vec = b.CreateNumpyVector(np.array(self.inputs, np.int32))
        outputs_vec = b.CreateNumpyVector(np.array(outputs, np.int32))
        ops_vec = _offsets(b, tflite.SubGraphStartOperatorsVector, op_offs)
        tflite.SubGraphStart(b)
        tflite.SubGraphAddTensors(b, tensors_vec)
        tflite.SubGraphAddInputs(b, inputs_vec)
        tflite.SubGraphAddOutputs(b, outputs_vec)
        tflite.SubGraphAddOperators(b, ops_vec)
        tflite.SubGraphAddName(b, name)
        subgraph = tflite.SubGraphEnd(b)

        description = b.CreateString("aotgen test model (tests/tflite_builder.py)")
        codes_vec = _offsets(b, tflite.ModelStartOperatorCodesVector, code_offs)
        subgraphs_vec = _offsets(b, tflite.ModelStartSubgraphsVector, [subgraph])
        buffers_vec = _offsets(b, tflite.ModelStartBuffersVector, buffer_offs)
        tflite.ModelStart(b)
        tflite.ModelAddVersion(b, 3)
        tflite.ModelAddOperatorCodes(b, codes_vec)
        tflite.ModelAddSubgraphs(b, subgraphs_vec)
        tflite.ModelAddDescription(b, description)
        tflite.ModelAddBuffers(b, buffers_vec)
        b.Finish(tflite.ModelEnd(b), file_identifier=b"TFL3")
        return bytes(b.Output())


def _offsets(b: flatbuffers.Builder, start, offsets: list[int]) -> int:
    start(b, len(offsets))
    for off in reversed(offsets):
        b.PrependUOffsetTRelative(off)
    return b.EndVector()


def _buffer(b: flatbuffers.Builder, data: bytes) -> int:
    vec = None
    if data:
        # 16-byte aligned, as TFLite's converter writes them (int32 bias read in place).
        b.StartVector(1, len(data), 16)
        b.head -= len(data)
        b.Bytes[b.head : b.head + len(data)] = data
        vec = b.EndVector()
    tflite.BufferStart(b)
    if vec is not None:
        tflite.BufferAddData(b, vec)
    return tflite.BufferEnd(b)


def _tensor(b: flatbuffers.Builder, t: _Tensor, buffer: int) -> int:
    name = b.CreateString(t.name)
    shape = b.CreateNumpyVector(np.array(t.shape, np.int32))
    quant = None
    if t.scale is not None:
        scale = b.CreateNumpyVector(t.scale)
        zp = b.CreateNumpyVector(t.zero_point)
        tflite.QuantizationParametersStart(b)
        tflite.QuantizationParametersAddScale(b, scale)
        tflite.QuantizationParametersAddZeroPoint(b, zp)
        tflite.QuantizationParametersAddQuantizedDimension(b, t.quantized_dimension)
        quant = tflite.QuantizationParametersEnd(b)
    tflite.TensorStart(b)
    tflite.TensorAddShape(b, shape)
    tflite.TensorAddType(b, _TYPES[t.dtype])
    tflite.TensorAddBuffer(b, buffer)
    tflite.TensorAddName(b, name)
    if quant is not None:
        tflite.TensorAddQuantization(b, quant)
    return tflite.TensorEnd(b)


def _opcode(b: flatbuffers.Builder, code: int, version: int) -> int:
    tflite.OperatorCodeStart(b)
    # Codes above 127 live only in builtin_code; deprecated_builtin_code saturates at 127
    # (PLACEHOLDER_FOR_GREATER_OP_CODES), as the converter writes it.
    tflite.OperatorCodeAddDeprecatedBuiltinCode(b, min(code, 127))
    tflite.OperatorCodeAddBuiltinCode(b, code)
    tflite.OperatorCodeAddVersion(b, version)
    return tflite.OperatorCodeEnd(b)


def _options(b: flatbuffers.Builder, table: str, fields: dict) -> int:
    vectors = {}
    for key, value in fields.items():
        if isinstance(value, (list, tuple, np.ndarray)):
            vectors[key] = b.CreateNumpyVector(np.asarray(value, np.int32))
    getattr(tflite, f"{table}Start")(b)
    for key, value in fields.items():
        getattr(tflite, f"{table}Add{key}")(b, vectors.get(key, value))
    return getattr(tflite, f"{table}End")(b)


def _operator(b: flatbuffers.Builder, op: _Op, opcode_index: int) -> int:
    options = _options(b, op.options_type, op.options) if op.options_type else None
    inputs = b.CreateNumpyVector(np.array(op.inputs, np.int32))
    outputs = b.CreateNumpyVector(np.array(op.outputs, np.int32))
    tflite.OperatorStart(b)
    tflite.OperatorAddOpcodeIndex(b, opcode_index)
    tflite.OperatorAddInputs(b, inputs)
    tflite.OperatorAddOutputs(b, outputs)
    if options is not None:
        tflite.OperatorAddBuiltinOptionsType(b, getattr(BuiltinOptions, op.options_type))
        tflite.OperatorAddBuiltinOptions(b, options)
    return tflite.OperatorEnd(b)


# ------------------------------------------------------------------------------ quantized weights


def symmetric_int8(rng: np.random.Generator, shape) -> np.ndarray:
    """Random int8 weights over [-127, 127] (TFLite's symmetric weight range)."""
    return rng.integers(-127, 127, size=shape, endpoint=True, dtype=np.int8)


def extreme_weights(rng: np.random.Generator, shape) -> np.ndarray:
    """Random int8 weights with every fifth at +127 and the next at -127 (the largest products)."""
    w = rng.integers(-127, 128, size=shape).astype(np.int8)
    w.flat[::5] = 127
    w.flat[1::5] = -127
    return w


def weight_scales(rng: np.random.Generator, channels: int, per_channel: bool) -> np.ndarray:
    if per_channel:
        return rng.uniform(0.002, 0.02, size=channels).astype(np.float32)
    return np.array([0.01], np.float32)


def bias_int32(rng: np.random.Generator, channels: int, magnitude: int = 20000) -> np.ndarray:
    return rng.integers(-magnitude, magnitude, size=channels, dtype=np.int32)


def output_scale_for(in_scale: float, w_scales: np.ndarray, taps: int, spread: float = 3.0) -> float:
    """An output scale under which the accumulations (std ~ 74 * 73 * sqrt(taps) for uniform
    int8 operands) span about +-`spread` standard deviations of the int8 range."""
    acc_std = 74.0 * 73.0 * np.sqrt(taps)
    return float(in_scale * float(np.mean(w_scales)) * acc_std * spread / 128.0)
