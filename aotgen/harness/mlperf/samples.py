"""The samples `aotgen mlperf` sends: the benchmark's raw files (an official dataset folder with
its y_labels.csv, or any .bin/.npy files), or one made from the project's own test input."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...errors import AotgenError
from .models import MlperfModel

LABELS_FILE = "y_labels.csv"


@dataclass
class Sample:
    name: str
    raw: bytes
    label: int | None = None


def load_samples(directory: Path, model: MlperfModel) -> list[Sample]:
    """Every sample in `directory`: the files y_labels.csv lists (the runner's dataset layout:
    file, classes, class[, bytes_to_send, stride], no header), else every *.bin (raw bytes) and
    *.npy (an array of the raw dtype) in name order. Each must be one raw sample of the model
    (ad01 files with bytes_to_send/stride are cut into segments as the runner does)."""
    directory = Path(directory)
    if not directory.is_dir():
        raise AotgenError(f"--inputs {directory}: not a folder")
    labels = directory / LABELS_FILE
    samples = _labelled(directory, labels, model) if labels.is_file() else _files(directory, model)
    if not samples:
        raise AotgenError(f"--inputs {directory}: no samples ({LABELS_FILE}, *.bin or *.npy)")
    for s in samples:
        if len(s.raw) != model.raw_bytes:
            raise AotgenError(f"--inputs {s.name}: {len(s.raw)} bytes, but one {model.model_id} sample is "
                              f"{model.raw_bytes} bytes ({model.input.size} {model.raw_dtype.name})")
    return samples


def _files(directory: Path, model: MlperfModel) -> list[Sample]:
    out = []
    for f in sorted(p for p in directory.iterdir() if p.suffix in (".bin", ".npy") and p.is_file()):
        if f.suffix == ".bin":
            out.append(Sample(f.name, f.read_bytes()))
            continue
        try:
            arr = np.load(f, allow_pickle=False)
        except (ValueError, OSError) as e:
            raise AotgenError(f"--inputs {f}: not a .npy array ({e})") from None
        if arr.dtype != model.raw_dtype:
            raise AotgenError(f"--inputs {f}: {arr.dtype} values; {model.model_id} samples are "
                              f"{model.raw_dtype.name} (the benchmark's raw format)")
        out.append(Sample(f.name, np.ascontiguousarray(arr, dtype=model.raw_dtype.newbyteorder("<")).tobytes()))
    return out


def _labelled(directory: Path, labels: Path, model: MlperfModel) -> list[Sample]:
    out = []
    with labels.open(newline="") as fh:
        for n, row in enumerate(csv.reader(fh), 1):
            row = [c.strip() for c in row]
            if not any(row):
                continue
            if len(row) < 3:
                raise AotgenError(f"{labels}:{n}: expected file, classes, class[, bytes_to_send, stride]")
            try:
                label = int(row[2])
            except ValueError:
                if n == 1:
                    continue  # a header line
                raise AotgenError(f"{labels}:{n}: class {row[2]!r} is not a number") from None
            f = directory / row[0]
            if not f.is_file():
                raise AotgenError(f"{labels}:{n}: {row[0]} is not in {directory}")
            data = f.read_bytes()
            if len(row) >= 5 and row[3] and row[4] and len(data) > model.raw_bytes:
                size, stride = int(row[3]), int(row[4])
                if size <= 0 or stride <= 0:
                    raise AotgenError(f"{labels}:{n}: bytes_to_send and stride must be positive")
                starts = range(0, len(data) - size + 1, stride)
                out += [Sample(f"{row[0]}#{k}", data[s : s + size], label) for k, s in enumerate(starts)]
            else:
                out.append(Sample(row[0], data, label))
    return out


def project_sample(model: MlperfModel, test_input: np.ndarray, seed: int = 0) -> Sample:
    """A raw sample when no --inputs are given: the project's test input (its bytes, or the real
    values it stands for), or seeded random pixels for the image tasks."""
    if model.raw == "tensor":
        raw = np.ascontiguousarray(test_input, dtype=model.raw_dtype.newbyteorder("<")).tobytes()
    elif model.raw == "uint8":
        raw = np.random.default_rng(seed).integers(0, 256, model.input.size, dtype=np.uint8).tobytes()
    else:
        q = model.input.quantization
        real = test_input.astype(np.float32).reshape(-1)
        if q is not None and model.input.dtype != "float32":
            real = (real - np.float32(q.zero_point)) * np.float32(q.scale)
        raw = real.astype("<f4").tobytes()
    return Sample("project test input", raw)
