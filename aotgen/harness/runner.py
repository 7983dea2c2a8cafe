"""`aotgen test`: run inputs on the firmware through the harness and judge the outputs against
the reference interpreter, with aotgen.verify's rules."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..compiler import mlf
from ..firmware.boards import Board
from ..errors import AotgenError, DeviceFailure
from ..compiler.mlf import ModelLibrary
from ..firmware.project import ModelRun
from ..firmware.project_info import load_project
from ..verify.reference import (EXPECTED, ReferenceRun, check_expected_options, choose_reference, keeping_outputs,
                                reference_outputs)
from ..verify.compare import CheckReport, compare_samples, load_expected, load_inputs, random_inputs
from .protocol import LinkStats, ProtocolError
from .qemu_session import QemuSerial
from .simavr import SimavrSerial
from .session import DEFAULT_HANDSHAKE_TIMEOUT, DEFAULT_RUN_TIMEOUT, REAL_PORT_QUIET_S, Session, match_models
from .transport import LinkClosed, Transport, find_port, open_transport

Samples = list[list[np.ndarray]]  # per sample, one array per model input


@dataclass
class FirmwareTest:
    """One report per model, plus what went over the line."""

    prefixes: list[str]
    reports: list[CheckReport]
    samples: list[Samples]
    outputs: list[Samples]  # the device's outputs, per model, per sample
    unit: str
    transport: str
    link: LinkStats = field(default_factory=LinkStats)
    board: str | None = None
    firmware: str | None = None
    place: str | None = None  # the labgrid place it ran on (harness/on_places.py)

    @property
    def passed(self) -> bool:
        return bool(self.reports) and all(r.passed for r in self.reports)

    def to_json(self) -> dict:
        return {"passed": self.passed, "board": self.board, "firmware": self.firmware,
                "transport": self.transport, "place": self.place, "count_unit": self.unit,
                "link": vars(self.link),
                "models": [dict(prefix=p, **r.to_json()) for p, r in zip(self.prefixes, self.reports)]}


def model_file(lib: ModelLibrary, override: Path | None = None) -> Path:
    """The .tflite/.onnx the reference interpreter runs for `lib`."""
    f = override or lib.model_file
    if f is None or not Path(f).is_file():
        name = lib.metadata.get("model", {}).get("file", "?")
        raise AotgenError(f"model '{lib.prefix}': its model file {name} is not in {lib.root}; "
                          "give it with --model so the reference interpreter can run it")
    return Path(f)


def check_session(session: Session, libs: list[ModelLibrary], samples: list[Samples],
                  model_files: list[Path] | None = None, atol: float | None = None, rtol: float | None = None,
                  progress: Callable[[str], None] | None = None, reference: str = "auto",
                  expected: list[Samples] | None = None) -> FirmwareTest:
    """Handshake (if not done), check the banner against `libs`, run every sample of every model
    on the device, then compare with the reference interpreter (`reference`), or with `expected`
    (per model, the saved outputs of its samples). If no reference can run, NoReferenceError
    carries the device's outputs."""
    say = progress or (lambda _m: None)
    if model_files and len(model_files) != len(libs):
        raise AotgenError(f"give one --model per model in the firmware ({len(libs)}: "
                          f"{', '.join(lib.prefix for lib in libs)}), got {len(model_files)}")
    banner = session.banner or session.handshake()
    indices = match_models(banner, libs)
    outputs, results = [], []
    for lib, index, samp in zip(libs, indices, samples):
        device_outs, model_results = [], []
        for i, sample in enumerate(samp):
            say(f"{lib.prefix}: sample {i + 1}/{len(samp)} on the device")
            got, result = session.infer(index, lib, sample)
            device_outs.append(got)
            model_results.append(result)
        outputs.append(device_outs)
        results.append(model_results)
    reports = []
    with keeping_outputs([(lib.prefix if len(libs) > 1 else "", samp, outs)
                          for lib, samp, outs in zip(libs, samples, outputs)]):
        for k, (lib, samp) in enumerate(zip(libs, samples)):
            if expected is not None:
                ref = ReferenceRun(EXPECTED, expected[k])
            else:
                say(f"running the reference interpreter for {lib.prefix} on {len(samp)} samples")
                ref = reference_outputs(model_file(lib, model_files[k] if model_files else None), samp, reference)
            report = compare_samples(lib.metadata["model"]["file"], ref.name, lib.outputs, outputs[k], ref.outputs,
                                     atol, rtol, note=ref.note)
            for s, result in zip(report.samples, results[k]):
                s.cycles, s.cycles_unit = result.count, result.unit
            reports.append(report)
    return FirmwareTest([lib.prefix for lib in libs], reports, samples, outputs, banner.unit, session.transport.name, session.link.stats)


def project_libraries(project_dir: str | Path) -> tuple[Board, Path, list[ModelLibrary]]:
    """Board, ELF and model libraries (models/<prefix>/) of a generated project."""
    project = load_project(project_dir)
    libs = [mlf.load(project.root / "models" / p) for p in project.prefixes]
    board = project.board()
    baud = project.context.get("baud_rate")
    if baud and int(baud) != board.console.baud:  # generated with --set baud_rate=N: the firmware's rate
        board = dataclasses.replace(board, console=dataclasses.replace(board.console, baud=int(baud)))
    return board, project.elf, libs


def _files_per_model(libs: list[ModelLibrary], items: list[str | Path] | None, option: str,
                     what: str) -> list[list[str]]:
    """[PREFIX=]FILE.npy items, per model: with several models in the firmware each file names its
    model (for one model the prefix may be left out)."""
    prefixes = [lib.prefix for lib in libs]
    files: dict[str, list[str]] = {p: [] for p in prefixes}
    for item in map(str, items or []):
        prefix, sep, path = item.partition("=")
        if not sep:
            if len(libs) != 1:
                raise AotgenError(f"this firmware has {len(libs)} models ({', '.join(prefixes)}): give each {what} "
                                  f"as PREFIX=FILE.npy, e.g. {prefixes[0]}={item}")
            prefix, path = prefixes[0], item
        if prefix not in files:
            raise AotgenError(f"{option} {item}: no model '{prefix}' in this firmware ({', '.join(prefixes)})")
        files[prefix].append(path)
    return [files[p] for p in prefixes]


def make_samples(libs: list[ModelLibrary], count: int, seed: int,
                 input_files: list[str | Path] | None = None) -> list[Samples]:
    """Seeded random samples plus .npy files ([PREFIX=]FILE.npy), per model."""
    files = _files_per_model(libs, input_files, "--inputs", "input")
    out = [random_inputs(lib.inputs, count, seed + k) + load_inputs(f, lib.inputs)
           for k, (lib, f) in enumerate(zip(libs, files))]
    if not any(out):
        raise AotgenError("no samples to run: give --count above 0 or --inputs")
    return out


def make_expected(libs: list[ModelLibrary], samples: list[Samples], expected_files: list[str | Path]) -> list[Samples]:
    """The saved outputs ([PREFIX=]FILE.npy, --expected) of each model's samples, which are all
    input files' (no random ones)."""
    files = _files_per_model(libs, expected_files, "--expected", "expected output")
    return [load_expected(f, lib.outputs, len(samp)) if f or samp else []
            for lib, samp, f in zip(libs, samples, files)]


@contextlib.contextmanager
def connect(board: Board, elf: Path, port: str | None,
            qemu_args: tuple[str, ...] = ()) -> Iterator[tuple[Transport, QemuSerial | SimavrSerial | None]]:
    """A transport to the firmware: --port if given, QEMU for QEMU boards (with `qemu_args`),
    simavr for simavr boards, else the board's USB serial port found by VID/PID."""
    if port is None and board.qemu_runnable:
        with QemuSerial(board, elf, qemu_args=qemu_args) as q:
            assert q.transport is not None
            yield q.transport, q
        return
    if port is None and board.simulator is not None:
        with SimavrSerial(board, elf) as sim:
            assert sim.transport is not None
            yield sim.transport, sim
        return
    if port is None:
        if board.usb_vid is None or board.usb_pid is None:
            raise AotgenError(f"board {board.name} has no USB id in its board file; give the serial port with --port")
        port = find_port(board.usb_vid, board.usb_pid)
    with open_transport(port, baudrate=board.console.baud) as t:  # the firmware's console rate
        yield t, None


def test_firmware(target: str | Path, libraries: list[ModelLibrary] | None = None,
                  samples: list[Samples] | None = None, *, board: Board | None = None,
                  count: int = 3, seed: int = 0, input_files: list[str | Path] | None = None,
                  model_files: list[Path] | None = None, port: str | None = None,
                  reference: str = "auto", expected_files: list[str | Path] | None = None,
                  timeout: float = 2.0, run_timeout: float = DEFAULT_RUN_TIMEOUT,
                  handshake_timeout: float = DEFAULT_HANDSHAKE_TIMEOUT,
                  atol: float | None = None, rtol: float | None = None,
                  progress: Callable[[str], None] | None = None,
                  trace: Callable[[str], None] | None = None) -> FirmwareTest:
    """Test running firmware: `target` is a generated project folder, or an ELF with `libraries`
    and `board`. QEMU boards are started here (unless `port` is given) and always stopped.
    The reference is `reference` (verify.reference.REFERENCES), or `expected_files`: the saved
    outputs of the `input_files` samples (then `count` must be 0)."""
    target = Path(target)
    if target.is_dir():
        app = load_project(target).app["name"]
        if app != "harness":
            raise AotgenError(f"{target} runs the {app} app, not the test harness `aotgen test` talks to"
                              + ("; drive it with `aotgen mlperf`" if app == "mlperf-tiny" else "")
                              + "; generate a project with --app harness to test it")
        proj_board, elf, libs = project_libraries(target)
        board = board or proj_board
        libs = libraries or libs
    else:
        if libraries is None or board is None:
            raise AotgenError("testing an ELF needs its model libraries and its board")
        elf, libs = target, libraries
    if expected_files:
        check_expected_options(count, reference)
    samples = samples or make_samples(libs, count, seed, input_files)
    expected = make_expected(libs, samples, expected_files) if expected_files else None
    if expected is None:
        for k, lib in enumerate(libs):  # a usage error before starting anything
            f = model_files[k] if model_files and k < len(model_files) else lib.model_file
            if f is not None:
                choose_reference(f, reference)
    say = progress or (lambda _m: None)
    with connect(board, elf, port) as (transport, q):
        where = f"QEMU {board.qemu.machine}" if board.qemu else (board.simulator.name if board.simulator else "")
        say(f"connected to {transport.name}" + (f" ({where})" if q else ""))
        session = Session(transport, timeout=timeout, run_timeout=run_timeout, trace=trace)
        try:
            # Emulators start the firmware only once we are connected; a real board may just have
            # been reset by the port opening, and its bootloader should not get our HELLOs.
            session.handshake(handshake_timeout, quiet=0.0 if q else REAL_PORT_QUIET_S)
            result = check_session(session, libs, samples, model_files, atol, rtol, say, reference, expected)
            result.board, result.firmware = board.name, str(elf)
            if isinstance(q, SimavrSerial):
                _simulated_cycles(result)
            return result
        except (ProtocolError, LinkClosed) as e:
            crash = q.crashed(wait=1.0 if isinstance(e, LinkClosed) else 0.0) if q else None
            exited = q is not None and q.proc is not None and (q.proc.returncode or 0) >= 0  # not killed by a signal
            if crash and exited and session.banner is None:
                raise DeviceFailure(f"the firmware ended before announcing itself (no READY banner); it is not a "
                                  f"serial-harness build: regenerate the project with `aotgen project` and rebuild it"
                                  f"\n{crash}") from None
            if crash:
                raise DeviceFailure(f"{e}\n{crash}") from None
            raise


def _simulated_cycles(result: FirmwareTest) -> None:
    """Counts from a cycle-accurate simulator: exact core cycles, and labelled as simulated."""
    from .simavr import UNIT

    result.unit = UNIT
    for report in result.reports:
        for sample in report.samples:
            sample.cycles_unit = UNIT


test_firmware.__test__ = False  # not a pytest test, despite the name


def run_embedded(board: Board, elf: str | Path, project_dir: str | Path, uart_index: int = 0,
                 timeout: float = DEFAULT_RUN_TIMEOUT) -> dict[str, ModelRun]:
    """Run each model of a project once on its embedded test input (test_data/*.npy) in QEMU,
    through the harness: {prefix: ModelRun(status, count, unit, {c_name: flat output})}.
    `board` may be a QEMU twin of the project's board (then `uart_index` picks the console)."""
    info = load_project(project_dir)
    runs: dict[str, ModelRun] = {}
    with QemuSerial(board, elf, uart_index=uart_index) as q:
        assert q.transport is not None
        session = Session(q.transport, run_timeout=timeout)
        try:
            banner = session.handshake()
            libs = info.libraries()
            for lib, index in zip(libs, match_models(banner, libs)):
                for i, t in enumerate(lib.inputs):
                    x = info.test_input(lib.prefix, t.c_name)
                    session.set_input(index, i, np.ascontiguousarray(x, dtype=t.dtype).tobytes())
                result = session.run(index)
                outs = {t.c_name: np.frombuffer(session.get_output(index, i, t.nbytes), dtype=t.dtype).copy()
                        for i, t in enumerate(lib.outputs)}
                runs[lib.prefix] = ModelRun(result.status, result.count, result.unit, outs)
        except (ProtocolError, LinkClosed) as e:
            crash = q.crashed(wait=1.0 if isinstance(e, LinkClosed) else 0.0)
            if crash:
                raise DeviceFailure(f"{e}\n{crash}") from None
            raise
    return runs
