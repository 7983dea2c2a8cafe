"""Descriptions of a model's input and output tensors, shared by every pipeline stage."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field

import numpy as np

# C type for each dtype the generated code can carry across its interface.
C_TYPES = {
    "int8": "int8_t",
    "uint8": "uint8_t",
    "int16": "int16_t",
    "uint16": "uint16_t",
    "int32": "int32_t",
    "uint32": "uint32_t",
    "float32": "float",
    "bool": "bool",
}


def c_identifier(name: str, taken: set[str] | None = None) -> str:
    """Sanitize a tensor name into a C identifier, unique within `taken` (which it updates)."""
    ident = re.sub(r"[^0-9A-Za-z_]", "_", name).strip("_") or "t"
    ident = re.sub(r"_+", "_", ident)
    if ident[0].isdigit():
        ident = "t_" + ident
    if taken is not None:
        base, n = ident, 1
        while ident in taken:
            ident = f"{base}_{n}"
            n += 1
        taken.add(ident)
    return ident


@dataclass
class Quantization:
    scale: float
    zero_point: int


@dataclass
class TensorInfo:
    """One model input or output as the user sees it."""

    name: str  # the model's own tensor name
    c_name: str  # sanitized, used as struct field and macro suffix
    shape: list[int]
    dtype: str
    quantization: Quantization | None = None
    # The model's own type where the C narrows it (an ONNX int64 output, e.g. ArgMax's, is int32).
    model_dtype: str | None = None

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) if self.shape else 1

    @property
    def nbytes(self) -> int:
        return self.size * np.dtype(self.dtype).itemsize

    @property
    def c_type(self) -> str:
        return C_TYPES[self.dtype]

    def to_json(self) -> dict:
        d = asdict(self)
        d["bytes"] = self.nbytes
        return d

    @classmethod
    def from_json(cls, d: dict) -> "TensorInfo":
        q = d.get("quantization")
        return cls(
            name=d["name"],
            c_name=d["c_name"],
            shape=list(d["shape"]),
            dtype=d["dtype"],
            quantization=Quantization(**q) if q else None,
            model_dtype=d.get("model_dtype"),
        )


@dataclass
class ModelSignature:
    inputs: list[TensorInfo] = field(default_factory=list)
    outputs: list[TensorInfo] = field(default_factory=list)
