"""`aotgen mlperf`: drive MLPerf Tiny firmware as the MLCommons runner does, and check it.

Performance mode: one sample, `infer N W` in several timed windows; the median of the windows is
the figure (throughput on a board; under QEMU -icount the timestamps are virtual time, 1 ns per
instruction, so the figure is instructions per inference, not a speed). Accuracy mode: every
sample of --inputs with `infer 1 0`. In both, every results line is compared with what the
reference interpreter computes from the same input tensor the firmware builds.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path


from ...compiler.mlf import ModelLibrary
from ...errors import AotgenError, DeviceFailure
from ...firmware.project_info import load_project
from ...verify.hostcheck import reference_name
from ...verify.reference import run_reference
from ..protocol import ProtocolError
from ..runner import connect, model_file, project_libraries
from ..session import REAL_PORT_QUIET_S
from ..simavr import SimavrSerial
from ..transport import LinkClosed
from .link import MlperfLink
from .models import MlperfModel, mlperf_model
from .samples import Sample, load_samples, project_sample

MODES = ("performance", "accuracy")
DEFAULT_WINDOWS = 5  # the runner's performance script: `loop 5`
DEFAULT_RUN_TIMEOUT = 300.0
BOOT_TIMEOUT = 10.0


@dataclass
class Window:
    iterations: int
    elapsed_us: int


@dataclass
class SampleCheck:
    """One sample's results line against the reference interpreter."""

    name: str
    results: list[float]
    expected: list[float]
    tolerance: list[float]
    label: int | None = None

    @property
    def max_diff(self) -> float:
        return max((abs(a - b) for a, b in zip(self.results, self.expected)), default=0.0)

    @property
    def within(self) -> bool:
        return len(self.results) == len(self.expected) and all(
            abs(a - b) <= t for a, b, t in zip(self.results, self.expected, self.tolerance))

    @property
    def top1(self) -> list[int]:
        return _argmax(self.results)

    @property
    def reference_top1(self) -> list[int]:
        return _argmax(self.expected)

    @property
    def agrees(self) -> bool:
        """Top-1 agreement (ties count as agreement); a single score (ad01) must be within tolerance."""
        if len(self.expected) == 1:
            return self.within
        return bool(set(self.top1) & set(self.reference_top1))

    def to_json(self) -> dict:
        return {"name": self.name, "label": self.label, "results": self.results, "expected": self.expected,
                "max_diff": self.max_diff, "within_tolerance": self.within, "top1": self.top1,
                "reference_top1": self.reference_top1, "agrees": self.agrees}


def _argmax(values: list[float]) -> list[int]:
    if not values:
        return []
    best = max(values)
    return [i for i, v in enumerate(values) if v == best]


@dataclass
class MlperfReport:
    mode: str
    model_id: str
    prefix: str
    board: str
    transport: str
    clock: str  # "qemu" (virtual time: instructions), "simavr" (simulated time), "board"
    timestamp_mode: str | None
    reference: str
    iterations: int = 0
    warmups: int = 0
    windows: list[Window] = field(default_factory=list)
    samples: list[SampleCheck] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return bool(self.samples) and all(s.within for s in self.samples)

    @property
    def agreement(self) -> tuple[int, int]:
        return sum(s.agrees for s in self.samples), len(self.samples)

    @property
    def median_us_per_inference(self) -> float | None:
        if not self.windows:
            return None
        return statistics.median(w.elapsed_us / w.iterations for w in self.windows)

    @property
    def median_throughput(self) -> float | None:
        """Inferences per second (the runner's figure); None where time is virtual (QEMU)."""
        if not self.windows or self.clock == "qemu":
            return None
        return statistics.median(w.iterations / (w.elapsed_us / 1e6) if w.elapsed_us else float("inf")
                                 for w in self.windows)

    @property
    def median_instructions(self) -> float | None:
        """QEMU -icount shift=0: one instruction per ns of virtual time."""
        us = self.median_us_per_inference
        return None if us is None or self.clock != "qemu" else us * 1000.0

    def label_score(self) -> dict | None:
        """Against the dataset's labels: top-1 accuracy of device and reference (classifiers),
        AUC of the scores (ad01)."""
        labelled = [s for s in self.samples if s.label is not None]
        if not labelled:
            return None
        if all(len(s.expected) == 1 for s in labelled):
            return {"metric": "AUC", "device": _auc([s.results[0] for s in labelled], [s.label for s in labelled]),
                    "reference": _auc([s.expected[0] for s in labelled], [s.label for s in labelled]),
                    "samples": len(labelled)}
        return {"metric": "top-1 accuracy",
                "device": sum(s.top1[:1] == [s.label] for s in labelled) / len(labelled),
                "reference": sum(s.reference_top1[:1] == [s.label] for s in labelled) / len(labelled),
                "samples": len(labelled)}

    def to_json(self) -> dict:
        agree, total = self.agreement
        return {"passed": self.passed, "mode": self.mode, "model_id": self.model_id, "prefix": self.prefix,
                "board": self.board, "transport": self.transport, "clock": self.clock,
                "timestamp_mode": self.timestamp_mode, "reference": self.reference,
                "iterations": self.iterations, "warmups": self.warmups,
                "windows": [vars(w) for w in self.windows],
                "median_us_per_inference": self.median_us_per_inference,
                "median_throughput": self.median_throughput, "median_instructions": self.median_instructions,
                "agreement": {"agree": agree, "samples": total}, "labels": self.label_score(),
                "samples": [s.to_json() for s in self.samples]}


def _auc(scores: list[float], labels: list[int]) -> float | None:
    """Area under the ROC curve (label 1 = positive), by the rank-sum formula; ties count half."""
    pos = [s for s, y in zip(scores, labels) if y == 1]
    neg = [s for s, y in zip(scores, labels) if y != 1]
    if not pos or not neg:
        return None
    wins = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg)
    return wins / (len(pos) * len(neg))


def check_samples(model: MlperfModel, lib: ModelLibrary, model_path: Path, samples: list[Sample],
                  results: list[list[float]]) -> list[SampleCheck]:
    """Each sample's results against the reference interpreter on the input tensor the firmware
    builds from it."""
    outputs = run_reference(model_path, [[model.to_input(s.raw)] for s in samples])
    checks = []
    for s, got, out in zip(samples, results, outputs):
        checks.append(SampleCheck(s.name, list(got), model.expected_results(s.raw, out[0]).astype(float).tolist(),
                                  model.result_tolerance(s.raw, out[0]).tolist(), s.label))
    return checks


def run_mlperf(project_dir: str | Path, mode: str = "performance", inputs: str | Path | None = None,
               port: str | None = None, iterations: int | None = None, warmups: int | None = None,
               windows: int = DEFAULT_WINDOWS, run_timeout: float = DEFAULT_RUN_TIMEOUT,
               boot_timeout: float = BOOT_TIMEOUT, progress: Callable[[str], None] | None = None,
               trace: Callable[[str], None] | None = None, qemu_args: tuple[str, ...] = ()) -> MlperfReport:
    """Drive the mlperf-tiny firmware of a built project (QEMU boards are started and stopped
    here unless `port` is given) and check its results against the reference interpreter."""
    say = progress or (lambda _m: None)
    if mode not in MODES:
        raise AotgenError(f"unknown mode '{mode}'; modes: {', '.join(MODES)}")
    info = load_project(project_dir)
    app = info.app
    if app["name"] != "mlperf-tiny":
        raise AotgenError(f"{info.root} runs the {app['name']} app; `aotgen mlperf` drives MLPerf Tiny firmware: "
                          "generate the project with --app mlperf-tiny")
    board, elf, libs = project_libraries(info.root)
    lib = libs[0]
    model = mlperf_model(lib, app["model_id"], bool(app.get("energy")))
    model_path = model_file(lib)
    if mode == "accuracy" and inputs is None:
        raise AotgenError("accuracy mode needs --inputs DIR (the benchmark's sample files)")
    if mode == "performance" and model.energy:
        raise AotgenError(f"{info.root} is an energy-mode build: its timestamps go to the timestamp pin, not the "
                          "serial line; measure it with an energy monitor, or run --mode accuracy")
    samples = load_samples(Path(inputs), model) if inputs is not None else \
        [project_sample(model, info.test_input(lib.prefix, lib.inputs[0].c_name))]
    if mode == "performance":
        samples = samples[:1]
    iterations = iterations or model.iterations
    warmups = model.warmups if warmups is None else warmups
    with connect(board, elf, port, qemu_args) as (transport, emulator):
        clock = "qemu" if emulator is not None and not isinstance(emulator, SimavrSerial) else \
            ("simavr" if emulator is not None else "board")
        link = MlperfLink(transport, trace=trace)
        try:
            say(f"connected to {transport.name}")
            if clock == "qemu":  # QEMU starts the firmware once we are connected: the boot lines come
                if not link.wait_for_boot(boot_timeout):
                    raise DeviceFailure(f"the firmware printed no MLPerf Tiny boot lines within {boot_timeout:g} s; "
                                        "is it an mlperf-tiny build of this project? (`aotgen build` it)")
            else:  # a board (or simavr's pty) may have booted before we listened: `name` tells
                link.drain(REAL_PORT_QUIET_S)
            link.name()
            _, model_id = link.profile()
            if model_id != model.model_id:
                raise DeviceFailure(f"the firmware serves model id {model_id}, the project {model.model_id}: flash "
                                    "the firmware built from this project")
            report = MlperfReport(mode, model.model_id, lib.prefix, board.name, transport.name, clock,
                                  link.mode, reference_name(lib), iterations if mode == "performance" else 1,
                                  warmups if mode == "performance" else 0)
            results = []
            for k, s in enumerate(samples):
                say(f"sample {k + 1}/{len(samples)}: loading {s.name}")
                link.load(s.raw)
                if mode == "accuracy":
                    results.append(link.infer(1, 0, run_timeout).results)
                    continue
                for w in range(windows):
                    say(f"window {w + 1}/{windows}: infer {iterations} {warmups}")
                    answer = link.infer(iterations, warmups, run_timeout)
                    if answer.elapsed_us is None:
                        raise DeviceFailure("the firmware printed no m-lap-us timestamps (an energy-mode build?)")
                    report.windows.append(Window(iterations, answer.elapsed_us))
                results.append(answer.results)
        except (ProtocolError, LinkClosed, DeviceFailure) as e:
            crash = emulator.crashed(wait=1.0 if isinstance(e, LinkClosed) else 0.0) if emulator else None
            if crash:
                raise DeviceFailure(f"{e}\n{crash}") from None
            raise
    say(f"running the reference interpreter on {len(samples)} sample{'s' if len(samples) != 1 else ''}")
    report.samples = check_samples(model, lib, model_path, samples, results)
    return report
