"""What "correct" means: test inputs, and comparison of a run's outputs with the reference.

Shared by the host check and the on-device harness, so both judge by the same rule:
integer outputs may differ by `atol` LSB (default 2); float outputs by `rtol` (default 1e-4)
relative to the largest magnitude of the reference output.
"""

from __future__ import annotations

import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ..errors import AotgenError
from ..outputs import publish, refuse_overwrite, staging_dir
from ..compiler.tensors import TensorInfo

DEFAULT_INT_ATOL = 2
DEFAULT_FLOAT_RTOL = 1e-4


def random_inputs(inputs: list[TensorInfo], count: int, seed: int = 0) -> list[list[np.ndarray]]:
    """`count` samples, uniform over an integer input's full range, or [-1, 1] for floats."""
    rng = np.random.default_rng(seed)
    samples = []
    for _ in range(count):
        sample = []
        for t in inputs:
            dt = np.dtype(t.dtype)
            if np.issubdtype(dt, np.integer):
                info = np.iinfo(dt)
                x = rng.integers(info.min, info.max, size=t.shape, endpoint=True, dtype=dt)
            elif dt == np.bool_:
                x = rng.integers(0, 1, size=t.shape, endpoint=True).astype(bool)
            else:
                x = rng.uniform(-1.0, 1.0, size=t.shape).astype(dt)
            sample.append(x)
        samples.append(sample)
    return samples


def _tensor_array(path: Path, t: TensorInfo, role: str) -> np.ndarray:
    """The .npy file's array for the model's input or output `t`: the same dtype and shape, where
    only a leading batch dimension of 1 may be added or left out."""
    try:
        x = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as e:
        raise AotgenError(f"cannot read {role} {path}: {first_line(str(e))}") from None
    if not isinstance(x, np.ndarray):  # an .npz archive
        raise AotgenError(f"{path}: .npz archives are not read; save each {role} with numpy.save as its own .npy")
    want = tuple(t.shape)
    matches = x.shape == want or (1, *x.shape) == want or x.shape == (1, *want)
    if not matches or x.dtype != np.dtype(t.dtype):
        raise AotgenError(f"{path}: {x.dtype}{list(x.shape)} does not match {role} '{t.name}' {t.dtype}{list(want)} "
                          "(only a leading batch dimension of 1 may be added or left out)")
    return x.reshape(want)


def first_line(text: str) -> str:
    return (text.strip().splitlines() or [""])[0][:200]


def load_inputs(paths: list[str | Path], inputs: list[TensorInfo]) -> list[list[np.ndarray]]:
    """One sample per .npy file (single-input models) or per group of files (one per input)."""
    if not paths:
        return []
    if len(paths) % len(inputs):
        raise AotgenError(f"the model has {len(inputs)} inputs; give the .npy files in groups of {len(inputs)}")
    return _groups(paths, inputs, "input")


def load_expected(paths: list[str | Path], outputs: list[TensorInfo], samples: int) -> list[list[np.ndarray]]:
    """Saved outputs (--expected) of the `samples` input files' samples, which they replace the
    reference interpreter for: one .npy per model output per sample, in order."""
    if not samples:
        raise AotgenError("--expected holds the outputs of the --inputs samples: give those inputs with --inputs")
    if len(paths) != samples * len(outputs):
        per = f"{len(outputs)} outputs" if len(outputs) != 1 else "1 output"
        raise AotgenError(f"--expected: {len(paths)} files for {samples} input sample{'s' * (samples != 1)} of a "
                          f"model with {per}: give {samples * len(outputs)}, one per output per sample, in order")
    return _groups(paths, outputs, "output")


def _groups(paths: list[str | Path], tensors: list[TensorInfo], role: str) -> list[list[np.ndarray]]:
    n = len(tensors)
    return [[_tensor_array(Path(p), t, role) for p, t in zip(paths[i : i + n], tensors)]
            for i in range(0, len(paths), n)]


Sample = list[np.ndarray]


def save_samples(directory: str | Path, groups: list[tuple[str, list[Sample], list[Sample]]]) -> Path:
    """DIR/[<group>/]sample_<i>/{input,output}_<j>.npy per (group, inputs, outputs) — the layout of
    tests/models/*/io, so a saved input feeds back with --inputs. A folder of older samples is
    replaced (only what aotgen wrote there); any other non-empty folder is refused."""
    directory = Path(directory)
    refuse_overwrite(directory, force=True)
    staging = staging_dir(directory)
    try:
        for group, samples, outputs in groups:
            for i, (ins, outs) in enumerate(zip(samples, outputs)):
                d = staging / group / f"sample_{i}"
                d.mkdir(parents=True)
                for j, x in enumerate(ins):
                    np.save(d / f"input_{j}.npy", x)
                for j, y in enumerate(outs):
                    np.save(d / f"output_{j}.npy", y)
        return publish(staging, directory, force=True, kind="samples")
    finally:
        shutil.rmtree(staging, ignore_errors=True)


@dataclass
class OutputCheck:
    output: str
    dtype: str
    max_abs_error: float
    rel_error: float  # max abs error / max |reference|
    argmax_match: bool
    tolerance: str
    passed: bool


@dataclass
class SampleCheck:
    index: int
    outputs: list[OutputCheck]
    cycles: int | None = None
    cycles_unit: str | None = None

    @property
    def passed(self) -> bool:
        return all(o.passed for o in self.outputs)


@dataclass
class CheckReport:
    model: str
    reference: str
    samples: list[SampleCheck] = field(default_factory=list)
    reference_note: str | None = None  # why the reference is not the default one (LiteRT refused the model)

    @property
    def passed(self) -> bool:
        return bool(self.samples) and all(s.passed for s in self.samples)

    def max_abs_error(self) -> float:
        return max((o.max_abs_error for s in self.samples for o in s.outputs), default=0.0)

    def to_json(self) -> dict:
        d = asdict(self)
        d["passed"] = self.passed
        d["max_abs_error"] = self.max_abs_error()
        return d


def compare_output(actual: np.ndarray, expected: np.ndarray, tensor: TensorInfo,
                   atol: float | None = None, rtol: float | None = None) -> OutputCheck:
    a = actual.reshape(-1).astype(np.float64)
    e = expected.reshape(-1).astype(np.float64)
    if a.shape != e.shape:
        raise AotgenError(f"output '{tensor.name}': {a.size} values, the reference has {e.size}")
    # NaN equals only NaN, an infinity only the same infinity; a NaN or infinity where the
    # reference has a number (or the reverse) is an infinite error.
    same = (a == e) | (np.isnan(a) & np.isnan(e))
    with np.errstate(invalid="ignore"):  # inf - inf
        diff = np.where(same, 0.0, np.abs(a - e))
    err = float(np.max(np.where(np.isnan(diff), np.inf, diff))) if a.size else 0.0
    finite = e[np.isfinite(e)]
    scale = float(np.max(np.abs(finite))) if finite.size else 0.0
    rel = err / max(scale, 1e-12)
    if np.issubdtype(np.dtype(tensor.dtype), np.integer):
        limit = DEFAULT_INT_ATOL if atol is None else atol
        ok = err <= limit and (rtol is None or rel <= rtol)
        tol = f"<= {limit:g} LSB"
    else:
        limit = DEFAULT_FLOAT_RTOL if rtol is None else rtol
        ok = rel <= limit and (atol is None or err <= atol)
        tol = f"<= {limit:g} relative"
    argmax_match = bool(np.argmax(a) == np.argmax(e)) if a.size else True  # an empty output
    return OutputCheck(tensor.name, tensor.dtype, err, rel, argmax_match, tol, bool(ok))


def compare_samples(model: str, reference: str, tensors: list[TensorInfo], actual: list[Sample],
                    expected: list[Sample], atol: float | None = None, rtol: float | None = None,
                    note: str | None = None) -> CheckReport:
    """Every sample's outputs (`actual`) against the reference's (`expected`), output by output."""
    report = CheckReport(model, reference, reference_note=note)
    for i, (got, want) in enumerate(zip(actual, expected)):
        report.samples.append(SampleCheck(i, [compare_output(a, e, t, atol, rtol) for a, e, t in zip(got, want, tensors)]))
    return report
