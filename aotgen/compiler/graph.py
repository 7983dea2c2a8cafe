"""The lowered model as aotgen sees it: tensors and a flat list of kernel calls (no TVM types).

`lower` builds it from Relax; `plan` places its tensors; `emit` turns it into C.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

import numpy as np


class TensorKind(str, Enum):
    INPUT = "input"  # model input: the caller's buffer
    OUTPUT = "output"  # model output: the caller's buffer
    CONSTANT = "constant"  # weights: a static const array in flash
    INTERMEDIATE = "intermediate"  # activation between two kernels: in the arena
    SCRATCH = "scratch"  # a kernel's internal temporary: in the arena, live for one call


@dataclass
class Tensor:
    id: int
    name: str
    shape: tuple[int, ...]
    dtype: str
    kind: TensorKind
    data: np.ndarray | None = None  # constants only
    io_index: int | None = None  # position among the model's inputs/outputs

    @property
    def nbytes(self) -> int:
        n = 1
        for d in self.shape:
            n *= int(d)
        return n * np.dtype(self.dtype).itemsize


@dataclass
class KernelCall:
    """One call of a generated operator function; args in the function's parameter order."""

    kernel: str  # C symbol, already prefixed
    args: list[int]  # tensor ids
    read_only: list[bool]  # per arg: the kernel never writes it (emitted as a const pointer)


@dataclass
class Graph:
    tensors: list[Tensor] = field(default_factory=list)
    calls: list[KernelCall] = field(default_factory=list)
    inputs: list[int] = field(default_factory=list)
    outputs: list[int] = field(default_factory=list)

    def add(self, name: str, shape, dtype: str, kind: TensorKind, data=None) -> Tensor:
        t = Tensor(len(self.tensors), name, tuple(int(d) for d in shape), str(dtype), kind, data)
        self.tensors.append(t)
        return t

    def of_kind(self, kind: TensorKind) -> list[Tensor]:
        return [t for t in self.tensors if t.kind == kind]
