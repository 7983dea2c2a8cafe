"""Which MLPerf Tiny benchmark a model is, and how the benchmark's raw samples meet it.

The runner sends each sample as the dataset's raw bytes, not as the model's input tensor: int8
features for keyword spotting (already in the reference model's quantization), uint8 pixels for
the image tasks, float32 spectrogram values for anomaly detection. The firmware turns them into
the input tensor through the model's quantization (aotgen_mlperf.c); `MlperfModel.to_input` is the
same arithmetic in numpy, so the reference interpreter sees exactly what the device ran, and
`expected_results` is what the device should print from the reference's outputs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from ...compiler.mlf import ModelLibrary
from ...compiler.tensors import TensorInfo
from ...errors import AotgenError


@dataclass(frozen=True)
class Benchmark:
    """One of the four MLPerf Tiny reference tasks, as the runner names it (m-model-[...])."""

    model_id: str
    task: str
    input_shape: tuple[int, ...]
    output_elements: int
    raw: str  # "tensor" (the input tensor's bytes), "uint8" or "float32"
    raw_scale: float  # uint8 raw values: real = v * raw_scale
    result: str  # "scores" or "mse"
    input_dtypes: tuple[str, ...]
    iterations: int  # the runner's performance script: `infer iterations warmups`
    warmups: int


BENCHMARKS = {b.model_id: b for b in (
    Benchmark("kws01", "keyword spotting", (1, 49, 10, 1), 12, "tensor", 0.0, "scores", ("int8",), 70, 10),
    Benchmark("vww01", "visual wake words", (1, 96, 96, 3), 2, "uint8", 1.0 / 255.0, "scores",
              ("int8", "uint8", "float32"), 20, 5),
    Benchmark("ic01", "image classification", (1, 32, 32, 3), 10, "uint8", 1.0, "scores",
              ("int8", "uint8", "float32"), 20, 5),
    Benchmark("ad01", "anomaly detection", (1, 640), 640, "float32", 0.0, "mse", ("int8", "uint8", "float32"),
              1500, 10),
)}
CUSTOM_ITERATIONS, CUSTOM_WARMUPS = 10, 1
INPUT_DTYPES = ("int8", "uint8", "int16", "int32", "float32")
_ID_RE = re.compile(r"[A-Za-z0-9_.-]{1,32}")
_INT_RANGES = {"int8": (-128, 127), "uint8": (0, 255), "int16": (-32768, 32767), "int32": (-2**31, 2147483520)}  # int32: the largest float32 below 2^31


@dataclass(frozen=True)
class MlperfModel:
    """A model library as the MLPerf Tiny firmware serves it."""

    prefix: str
    model_id: str
    benchmark: Benchmark | None  # None: a custom model (raw sample = the input tensor's bytes)
    input: TensorInfo
    output: TensorInfo
    energy: bool = False

    @property
    def raw(self) -> str:
        return self.benchmark.raw if self.benchmark else "tensor"

    @property
    def result(self) -> str:
        return self.benchmark.result if self.benchmark else "scores"

    @property
    def raw_dtype(self) -> np.dtype:
        return np.dtype(self.input.dtype if self.raw == "tensor" else self.raw)

    @property
    def raw_bytes(self) -> int:
        return self.input.size * self.raw_dtype.itemsize

    @property
    def iterations(self) -> int:
        return self.benchmark.iterations if self.benchmark else CUSTOM_ITERATIONS

    @property
    def warmups(self) -> int:
        return self.benchmark.warmups if self.benchmark else CUSTOM_WARMUPS

    def to_json(self) -> dict:
        return {"model_id": self.model_id, "energy": self.energy, "raw": self.raw, "raw_bytes": self.raw_bytes,
                "result": self.result}

    # ---------------------------------------------------------------- the device's arithmetic

    def raw_values(self, raw: bytes) -> np.ndarray:
        """A raw sample as an array of its dtype (little-endian, as the device reads it)."""
        if len(raw) != self.raw_bytes:
            raise AotgenError(f"a sample for {self.model_id} has {self.raw_bytes} bytes "
                              f"({self.input.size} {self.raw_dtype.name}), got {len(raw)}")
        return np.frombuffer(raw, dtype=self.raw_dtype.newbyteorder("<")).astype(self.raw_dtype)

    def real_input(self, raw: bytes) -> np.ndarray:
        """The real values a raw sample stands for (float32, computed as the device does)."""
        v = self.raw_values(raw)
        if self.raw == "uint8":
            return v.astype(np.float32) * np.float32(self.benchmark.raw_scale)
        if self.raw == "float32":
            return v.astype(np.float32)
        return _dequantize(v, self.input)

    def to_input(self, raw: bytes) -> np.ndarray:
        """The input tensor the firmware builds from a raw sample (shape and dtype of the input)."""
        if self.raw == "tensor":
            return self.raw_values(raw).reshape(self.input.shape)
        return _quantize(self.real_input(raw), self.input).reshape(self.input.shape)

    def expected_results(self, raw: bytes, output: np.ndarray) -> np.ndarray:
        """What m-results-[...] should hold for the model's output 0 on this sample."""
        real = _dequantize(np.asarray(output).reshape(-1), self.output)
        if self.result == "mse":
            d = real - self.real_input(raw)
            # Summed in order in float32, like the device's loop.
            return np.array([np.cumsum(d * d, dtype=np.float32)[-1] / np.float32(d.size)], dtype=np.float32)
        return real

    def result_tolerance(self, raw: bytes, output: np.ndarray, lsb: int = 2) -> np.ndarray:
        """Per result: how far the device may be from expected_results when its outputs differ
        from the reference's by up to `lsb` quantization steps (float outputs: 1e-4 relative),
        plus the six decimals of m-results."""
        printed = 5e-7
        q = self.output.quantization
        real = _dequantize(np.asarray(output).reshape(-1), self.output).astype(np.float64)
        step = lsb * q.scale if q else 1e-4 * float(np.max(np.abs(real), initial=1.0))
        if self.result == "mse":
            d = np.abs(real - self.real_input(raw))
            bound = float(np.mean(2 * d * step + step * step))
            mse = float(np.mean(d * d))
            return np.array([bound + 1e-5 * mse + printed])
        return np.full(real.size, step + printed)


def _dequantize(v: np.ndarray, t: TensorInfo) -> np.ndarray:
    q = t.quantization
    if q is None or t.dtype == "float32":
        return v.astype(np.float32)
    return (v.astype(np.float32) - np.float32(q.zero_point)) * np.float32(q.scale)


def _quantize(real: np.ndarray, t: TensorInfo) -> np.ndarray:
    """clamp(round_half_away(real / scale) + zero_point), in float32 as on the device."""
    if t.dtype == "float32":
        return real.astype(np.float32)
    lo, hi = _INT_RANGES[t.dtype]
    v = np.where(np.isnan(real), np.float32(0), real).astype(np.float32)
    q = t.quantization
    if q is not None:
        v = _round_half_away(v / np.float32(q.scale)) + np.float32(q.zero_point)
    v = np.clip(_round_half_away(v), lo, hi)
    return v.astype(t.dtype)


def _round_half_away(v: np.ndarray) -> np.ndarray:
    whole = np.trunc(v)
    frac = v - whole
    return (whole + (frac >= 0.5) - (frac <= -0.5)).astype(np.float32)


# ---------------------------------------------------------------- which model is it

def recognise(lib: ModelLibrary) -> Benchmark | None:
    """The MLPerf Tiny task a model library is (by its input shape, output size and input type)."""
    if len(lib.inputs) != 1 or len(lib.outputs) != 1:
        return None
    i, o = lib.inputs[0], lib.outputs[0]
    for b in BENCHMARKS.values():
        if tuple(i.shape) == b.input_shape and o.size == b.output_elements and i.dtype in b.input_dtypes:
            return b
    return None


def mlperf_model(lib: ModelLibrary, model_id: str | None = None, energy: bool = False) -> MlperfModel:
    """How `lib` is served: its benchmark (recognised, or named by `model_id`), or a custom model
    under `model_id` (default: its prefix) whose raw samples are its input tensor's bytes."""
    if len(lib.inputs) != 1 or not lib.outputs:
        raise AotgenError(f"the mlperf-tiny app serves a model with one input and at least one output; "
                          f"'{lib.prefix}' has {len(lib.inputs)} inputs and {len(lib.outputs)} outputs")
    inp, out = lib.inputs[0], lib.outputs[0]
    for t, what in ((inp, "input"), (out, "output")):
        if t.dtype not in INPUT_DTYPES:
            raise AotgenError(f"the mlperf-tiny app handles {', '.join(INPUT_DTYPES)} tensors; '{lib.prefix}' has a "
                              f"{t.dtype} {what}")
    if model_id is not None and not _ID_RE.fullmatch(model_id):
        raise AotgenError(f"model id {model_id!r}: 1 to 32 letters, digits, '_', '.' or '-'")
    found = recognise(lib)
    if model_id is None:
        return MlperfModel(lib.prefix, found.model_id if found else _default_id(lib.prefix), found, inp, out, energy)
    bench = BENCHMARKS.get(model_id)
    if bench is not None and found is not bench:
        raise AotgenError(
            f"model id {model_id} is MLPerf Tiny {bench.task}: a {'x'.join(map(str, bench.input_shape))} "
            f"{'/'.join(bench.input_dtypes)} input and {bench.output_elements} outputs; '{lib.prefix}' has "
            f"{'x'.join(map(str, inp.shape))} {inp.dtype} in and {out.size} out. Give it an id of its own "
            "(its raw samples are then its input tensor's bytes)")
    return MlperfModel(lib.prefix, model_id, bench, inp, out, energy)


def _default_id(prefix: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", prefix)[:32] or "model"
