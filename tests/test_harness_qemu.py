"""The serial harness on emulated boards: `aotgen test` starts QEMU with the firmware's console
on a TCP socket, talks the protocol through pyserial and judges the outputs against the live
reference interpreter. Also the failure paths: wrong firmware, a firmware that hangs or never
answers, QEMU missing or failing, Ctrl-C, and flashing without a board.

Needs gcc-arm-none-eabi, libnewlib-arm-none-eabi, qemu-system-arm and the shared models."""

from __future__ import annotations

import json
import re
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import aotgen
from aotgen.firmware import boards
from aotgen.firmware import build as firmware
from aotgen.firmware import project
from aotgen.errors import AotgenError, ToolNotFoundError
from aotgen.harness.protocol import ProtocolError
from aotgen.harness.qemu_session import QemuSerial
from aotgen.harness.runner import test_firmware

from aotgen_testlib import AOTGEN, INT8_ATOL, MODELS, time_limit

TEST_LIMIT_S = 180
HELLO = MODELS / "tflite_micro/hello_world_int8.tflite"
KWS = MODELS / "mlperf_tiny/kws_ref_model.tflite"

pytestmark = [
    pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None, reason="needs gcc-arm-none-eabi"),
    pytest.mark.skipif(shutil.which("qemu-system-arm") is None, reason="needs qemu-system-arm"),
]


@pytest.fixture(autouse=True)
def _bounded():
    """Fail a test that runs longer than TEST_LIMIT_S instead of hanging CI."""
    with time_limit(TEST_LIMIT_S):
        yield


def built_project(models: list[Path], board_name: str, out: Path, prefixes: list[str] | None = None) -> Path:
    board = boards.load_board(board_name)
    libs = [aotgen.compile(m, output=out / f"mlf{i}", prefix=(prefixes or [None] * len(models))[i],
                           target=board.cpu).library for i, m in enumerate(models)]
    p = generate(libs, board, out / "project")
    firmware.build(p)
    return p


def generate(libs: list[aotgen.ModelLibrary], board: boards.Board, out: Path) -> Path:
    """A cmsis project: its main.c runs the harness, the generator adds the harness files."""
    p = project.generate_project(libs, board, "cmsis", out)
    assert {"aotgen_harness.c", "aotgen_harness.h", "aotgen_models.c"} <= {f.name for f in (p / "src").iterdir()}
    return p


@pytest.fixture(scope="module")
def hello_an500(tmp_path_factory) -> Path:
    return built_project([HELLO], "mps2_an500", tmp_path_factory.mktemp("hello_an500"))


def qemu_processes_for(elf: Path) -> list[str]:
    ps = subprocess.run(["ps", "-eww", "-o", "args"], capture_output=True, text=True, timeout=10).stdout
    return [line for line in ps.splitlines() if "qemu-system-arm" in line and str(elf) in line]


# ------------------------------------------------------------------------------ passing runs


def test_aotgen_test_hello_on_mps2_an500(hello_an500, tmp_path):
    """The CLI: 3 random samples + the published input, JSON report, saved outputs, exit 0."""
    io = MODELS / "tflite_micro/io/hello_world_int8"
    proc = subprocess.run([AOTGEN, "test", str(hello_an500), "--count", "3", "--inputs", str(io / "input_0.npy"),
                           "--json", "--save-outputs", str(tmp_path / "out")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["passed"] and report["count_unit"] == "instructions (QEMU icount)"
    assert report["board"] == "mps2_an500" and report["firmware"] == str(hello_an500 / "build/firmware.elf")
    (model,) = report["models"]
    assert model["prefix"] == "hello_world_int8" and len(model["samples"]) == 4
    for s in model["samples"]:
        assert s["cycles_unit"] == "instructions (QEMU icount)" and s["cycles"] > 0
        assert s["outputs"][0]["max_abs_error"] <= INT8_ATOL
    assert report["link"]["retries"] == 0
    # The saved device output of the published input matches the published LiteRT output.
    got = np.load(tmp_path / "out/sample_3/output_0.npy")
    want = np.load(io / "output_0_litert_ref.npy")
    assert np.abs(got.astype(int) - want.astype(int)).max() <= INT8_ATOL
    assert np.array_equal(np.load(tmp_path / "out/sample_3/input_0.npy"), np.load(io / "input_0.npy"))
    assert not qemu_processes_for(hello_an500 / "build/firmware.elf")


def test_project_build_test_from_the_command_line(tmp_path):
    """The user's loop: aotgen project (compiles the model), aotgen build, aotgen test."""
    p = tmp_path / "fw"
    for args in (["project", str(HELLO), "--board", "mps2_an500", "-o", str(p)], ["build", str(p)]):
        proc = subprocess.run([AOTGEN, *args], capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr
    assert f"aotgen test {p}" in " ".join(proc.stdout.split())  # what `aotgen build` suggests next
    proc = subprocess.run([AOTGEN, "test", str(p), "--count", "3"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "passed: 3 samples match ai-edge-litert" in " ".join(proc.stdout.split())


def test_aotgen_run_the_whole_loop(tmp_path):
    """aotgen run: compile, project, build, QEMU, test against the reference, in one command."""
    proc = subprocess.run([AOTGEN, "run", str(HELLO), "--board", "mps2_an500", "--count", "3", "--json"],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["passed"] and report["count_unit"] == "instructions (QEMU icount)"
    assert [m["prefix"] for m in report["models"]] == ["hello_world_int8"]
    assert len(report["models"][0]["samples"]) == 3
    assert (tmp_path / "build/run/mps2_an500/build/firmware.elf").is_file()  # kept, for `aotgen test` again


@pytest.mark.skipif(not all(shutil.which(t) for t in ("avr-gcc", "arduino-builder", "simavr"))
                    or not Path("/usr/include/simavr/sim_avr.h").is_file(),
                    reason="needs gcc-avr, arduino-builder, arduino-core-avr, simavr, libsimavr-dev")
def test_aotgen_run_on_a_simulated_board_uses_its_template(tmp_path):
    """arduino_mega2560: the board's own template (arduino), no flashing, the harness in simavr."""
    proc = subprocess.run([AOTGEN, "run", str(HELLO), "--board", "arduino_mega2560", "--count", "3", "--json"],
                          capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["passed"] and len(report["models"][0]["samples"]) == 3
    assert json.loads((tmp_path / "build/run/arduino_mega2560/aotgen_project.json").read_text())["template"] == "arduino"


def test_aotgen_run_on_a_real_board_stops_at_the_flasher(tmp_path):
    """No board attached: the loop gets as far as flashing, and shows the flasher's own error."""
    if shutil.which("openocd") is None:
        pytest.skip("needs openocd")
    proc = subprocess.run([AOTGEN, "run", str(HELLO), "--board", "nucleo_f746zg"], capture_output=True, text=True,
                          timeout=300, cwd=tmp_path)
    assert proc.returncode == 7 and "Traceback" not in proc.stderr  # a tool aotgen ran failed
    assert "openocd (flashing nucleo_f746zg) failed" in proc.stderr
    assert (tmp_path / "build/run/nucleo_f746zg/build/firmware.elf").is_file()


def test_aotgen_test_table_says_instructions_not_cycles(hello_an500):
    """... in a log 80 columns wide (CI): every row whole, no number or name split across lines."""
    proc = subprocess.run([AOTGEN, "test", str(hello_an500), "-n", "3"], capture_output=True, text=True,
                          timeout=120, env=dict(os.environ, COLUMNS="80"))
    assert proc.returncode == 0, proc.stderr
    assert "count = instructions (QEMU icount)" in " ".join(proc.stdout.split())
    assert "cycles" not in proc.stdout
    assert "passed: 3 samples" in proc.stdout
    assert max(len(line) for line in proc.stdout.splitlines()) <= 80
    rows = [line for line in proc.stdout.splitlines() if re.search(r"\bpass\b", line)]
    assert len(rows) == 3 and all(re.search(r"\b\d{1,3}(,\d{3})+\b", r) for r in rows), proc.stdout
    assert "hello_world_int8" in proc.stdout


def test_the_harness_runs_on_pypis_pyserial_too(hello_an500, tmp_path):
    """The farm extra's labgrid installs its fork pyserial-labgrid over pyserial's own files, and CI
    installs the farm extra, so the suite runs on the fork: here `aotgen test` runs once more on
    PyPI's pyserial 3.5, put first on the path."""
    genuine = tmp_path / "pyserial"
    pip = subprocess.run([sys.executable, "-m", "pip", "install", "--disable-pip-version-check", "-q", "--no-deps",
                          "--target", str(genuine), "pyserial==3.5"], capture_output=True, text=True, timeout=300)
    assert pip.returncode == 0, pip.stderr
    env = dict(os.environ, PYTHONPATH=str(genuine))
    which = subprocess.run([sys.executable, "-c", "import serial; print(serial.__file__)"], env=env,
                           capture_output=True, text=True, timeout=60, check=True).stdout.strip()
    assert Path(which).is_relative_to(genuine), which
    proc = subprocess.run([AOTGEN, "test", str(hello_an500), "-n", "3", "--json"], env=env, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["passed"]


def test_instruction_counts_are_deterministic(hello_an500):
    """-icount shift=0: the same inputs give the same counts, run after run, to within one SysTick
    period (40 instructions at 25 MHz): when a host byte arrives is real time, so the tick phase at
    the start of a run is not fixed."""
    tick = 1e9 / boards.load_board("mps2_an500").qemu.sysclk_hz
    runs = [[s.cycles for s in test_firmware(hello_an500, count=3, seed=4).reports[0].samples] for _ in range(2)]
    assert min(runs[0]) > 0
    assert all(abs(a - b) <= tick for a, b in zip(*runs)), runs


@pytest.fixture(scope="module")
def hello_kws_an385(tmp_path_factory) -> Path:
    return built_project([HELLO, KWS], "mps2_an385", tmp_path_factory.mktemp("hello_kws"), prefixes=["hello", "kws"])


def test_two_models_in_one_firmware(hello_kws_an385):
    """hello and KWS (a 490-byte input: several chunks) in one firmware on a Cortex-M3."""
    p = hello_kws_an385
    result = test_firmware(p, count=3, seed=1)
    assert result.passed, result.to_json()
    assert result.prefixes == ["hello", "kws"]
    assert [len(r.samples) for r in result.reports] == [3, 3]
    kws_counts = [s.cycles for s in result.reports[1].samples]
    assert min(kws_counts) > 1_000_000 > max(s.cycles for s in result.reports[0].samples)


INT8_MODELS = {
    "hello": HELLO,
    "kws": KWS,
    "resnet": MODELS / "mlperf_tiny/pretrainedResnet_quant.tflite",
    "ad01": MODELS / "mlperf_tiny/ad01_int8.tflite",
}
QEMU_BOARDS = [b.name for b in boards.list_boards()
               if b.qemu_runnable and "cmsis" in b.templates and b.source and b.source.parent == boards.BUILTIN_BOARDS_DIR]


@pytest.mark.parametrize("board_name", QEMU_BOARDS)
def test_every_qemu_board_passes_the_int8_models(board_name, tmp_path):
    """hello_world_int8, KWS, the ResNet and the anomaly detector, in one firmware per QEMU
    board (those whose weights and arena fit the board), 3 inputs each vs the live reference."""
    board = boards.load_board(board_name)
    libs = [aotgen.compile(path, output=tmp_path / name, prefix=name, target=board.cpu).library
            for name, path in INT8_MODELS.items()]
    libs = [lib for lib in libs if lib.constant_bytes <= board.flash.size and lib.workspace_bytes <= board.ram.size]
    assert len(libs) >= 2, f"fewer than two of the models fit {board_name}"
    p = generate(libs, board, tmp_path / "project")
    firmware.build(p)
    result = test_firmware(p, count=3, seed=11)
    assert result.passed, result.to_json()
    assert result.unit == "instructions (QEMU icount)"
    assert all(len(r.samples) == 3 and all(s.cycles > 0 for s in r.samples) for r in result.reports)


@pytest.mark.parametrize("workspace, io_in_arena", [("user", False), ("user", True), ("static", True)])
def test_shared_arena_and_io_in_arena(tmp_path, workspace, io_in_arena):
    """--workspace user (one arena, the template's aotgen_workspace) and io_in_arena (tensors
    written straight into the arena through the library's accessors) through the harness."""
    board = boards.load_board("mps2_an386")
    libs = [aotgen.compile(path, output=tmp_path / name, prefix=name, target=board.cpu, workspace=workspace,
                           io_in_arena=io_in_arena).library for name, path in (("hello", HELLO), ("kws", KWS))]
    p = generate(libs, board, tmp_path / "project")
    firmware.build(p)
    result = test_firmware(p, count=3, seed=2)
    assert result.passed, result.to_json()


def test_input_files_per_model(hello_kws_an385, tmp_path):
    """--inputs PREFIX=FILE.npy feeds the published inputs to each model of a two-model firmware."""
    io = MODELS / "tflite_micro/io/hello_world_int8", MODELS / "mlperf_tiny/io/kws_ref_model"
    proc = subprocess.run([AOTGEN, "test", str(hello_kws_an385), "-n", "0", "--json", "--save-outputs", str(tmp_path),
                           "--inputs", f"kws={io[1] / 'input_0.npy'}", "--inputs", f"hello={io[0] / 'input_0.npy'}"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert [len(m["samples"]) for m in json.loads(proc.stdout)["models"]] == [1, 1]
    for prefix, d in zip(("hello", "kws"), io):
        got, want = np.load(tmp_path / prefix / "sample_0/output_0.npy"), np.load(d / "output_0_litert_ref.npy")
        assert np.abs(got.astype(int) - want.astype(int)).max() <= INT8_ATOL
    proc = subprocess.run([AOTGEN, "test", str(hello_kws_an385), "--inputs", str(io[0] / "input_0.npy")],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "give each input as PREFIX=FILE.npy, e.g. hello=" in " ".join(proc.stderr.split())


# ------------------------------------------------------------------------------ failures


def test_firmware_for_another_model_is_a_clear_error(hello_an500, tmp_path):
    kws = aotgen.compile(KWS, output=tmp_path / "kws", prefix="kws").library
    elf = hello_an500 / "build/firmware.elf"
    with pytest.raises(AotgenError, match=r"firmware runs model hello_world_int8 \(inputs \[1\] B, outputs \[1\] B\), "
                                          r"expected kws \(inputs \[490\] B, outputs \[12\] B\)"):
        test_firmware(elf, [kws], board=boards.load_board("mps2_an500"), count=1)
    assert not qemu_processes_for(elf)


HANG_LIB_C = """#include "tiny.h"
int32_t tiny_run(struct tiny_inputs* i, struct tiny_outputs* o) { (void)i; (void)o; for (;;) { } }
"""


def tiny_library(root: Path, run_c: str) -> aotgen.ModelLibrary:
    """A hand-written library (docs/model-library-format.md) whose run() is `run_c`."""
    inc, src = root / "codegen/host/include", root / "codegen/host/src"
    inc.mkdir(parents=True)
    src.mkdir(parents=True)
    (inc / "tiny.h").write_text("#include <stdint.h>\n#define TINY_X_SIZE 4\n#define TINY_Y_SIZE 4\n"
                                "struct tiny_inputs { const int8_t* x; };\nstruct tiny_outputs { int8_t* y; };\n"
                                "int32_t tiny_run(struct tiny_inputs* i, struct tiny_outputs* o);\n")
    (src / "tiny_lib0.c").write_text(run_c)
    t = {"shape": [1, 4], "dtype": "int8", "bytes": 4, "quantization": None}
    (root / "metadata.json").write_text(json.dumps({
        "schema_version": 1, "prefix": "tiny", "model": {"file": "none"}, "options": {"workspace": "static"},
        "inputs": [dict(t, name="x", c_name="x")], "outputs": [dict(t, name="y", c_name="y")],
        "workspace_bytes": 0, "constant_bytes": 0, "operators": [], "kernels": [],
        "sources": ["codegen/host/src/tiny_lib0.c"], "objects": []}))
    return aotgen.load_library(root)


def test_model_that_never_returns_is_a_run_timeout(tmp_path):
    board = boards.load_board("mps2_an385")
    lib = tiny_library(tmp_path / "tiny", HANG_LIB_C)
    p = generate([lib], board, tmp_path / "p")
    elf = firmware.build(p).elf
    samples = [[[np.zeros((1, 4), np.int8)]]]
    with pytest.raises(ProtocolError, match=r"no answer to RUN within 2 s \(1 attempts\)"):
        test_firmware(elf, [lib], samples, board=board, run_timeout=2, model_files=[HELLO])
    assert not qemu_processes_for(elf)


def test_firmware_that_never_answers_is_a_handshake_timeout(hello_an500, tmp_path):
    """A firmware without the harness (here: one that spins after init) -> 'no firmware answered'."""
    p = tmp_path / "silent"
    shutil.copytree(hello_an500, p, ignore=shutil.ignore_patterns("build"))
    (p / "src/main.c").write_text('#include "platform.h"\nint main(void) { platform_init(); for (;;) { } }\n')
    elf = firmware.build(p).elf
    with pytest.raises(ProtocolError, match=r"no firmware answered on socket://127\.0\.0\.1:\d+ within 2 s"):
        test_firmware(p, count=1, handshake_timeout=2)
    assert not qemu_processes_for(elf)


def test_firmware_without_the_harness_that_exits(hello_an500, tmp_path):
    """E.g. a project generated before the harness: it prints, exits, and QEMU ends."""
    p = tmp_path / "old"
    shutil.copytree(hello_an500, p, ignore=shutil.ignore_patterns("build"))
    (p / "src/main.c").write_text('#include "console.h"\n#include "platform.h"\n'
                                  'int main(void) { platform_init(); console_puts("hello\\n"); platform_exit(0); }\n')
    firmware.build(p)
    with pytest.raises(AotgenError, match=r"the firmware ended before announcing itself .* not a serial-harness "
                                          r"build.*\nQEMU exited with code 0"):
        test_firmware(p, count=1)


def test_qemu_crash_shows_its_stderr(hello_an500, tmp_path):
    """A file that is not an ELF: QEMU loads it as a raw image, the CPU locks up, QEMU aborts."""
    bogus = tmp_path / "firmware.elf"
    bogus.write_bytes(b"not an ELF file at all")
    lib = aotgen.load_library(hello_an500 / "models/hello_world_int8")
    with pytest.raises(AotgenError, match=r"connection lost.*\nQEMU exited with code -?\d+:\nqemu: fatal: Lockup"):
        test_firmware(bogus, [lib], board=boards.load_board("mps2_an500"), count=1)
    assert not qemu_processes_for(bogus)


def test_qemu_refusing_the_machine_shows_its_stderr(hello_an500, tmp_path):
    """QEMU exits before opening its serial socket (here: a machine it does not know)."""
    import dataclasses

    board = boards.load_board("mps2_an500")
    board = dataclasses.replace(board, qemu=dataclasses.replace(board.qemu, machine="no-such-machine"))
    lib = aotgen.load_library(hello_an500 / "models/hello_world_int8")
    with pytest.raises(AotgenError, match=r"qemu-system-arm exited with 1 before the firmware started:\n.*unsupported machine type"):
        test_firmware(hello_an500 / "build/firmware.elf", [lib], board=board, count=1)


def test_qemu_missing_names_the_apt_package(hello_an500, monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty folder: no qemu-system-arm
    with pytest.raises(ToolNotFoundError, match=r"apt-get install qemu-system-arm"):
        test_firmware(hello_an500, count=1)


def test_interrupt_stops_qemu(hello_an500):
    """Ctrl-C (KeyboardInterrupt) mid-session still kills QEMU."""
    elf = hello_an500 / "build/firmware.elf"
    with pytest.raises(KeyboardInterrupt):
        with QemuSerial(boards.load_board("mps2_an500"), elf) as q:
            proc = q.proc
            assert qemu_processes_for(elf)
            raise KeyboardInterrupt
    assert proc.poll() is not None and not qemu_processes_for(elf)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_on_the_command_line_stops_qemu(sig, tmp_path):
    """SIGINT or SIGTERM to `aotgen test` while the device is busy: exit 130 / 143, no traceback,
    QEMU gone."""
    lib = tiny_library(tmp_path / "tiny", HANG_LIB_C)
    p = generate([lib], boards.load_board("mps2_an385"), tmp_path / "p")
    elf = firmware.build(p).elf
    proc = subprocess.Popen([AOTGEN, "test", str(p), "-n", "1", "--model", str(HELLO)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while not qemu_processes_for(elf) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert qemu_processes_for(elf), "QEMU did not start"
        time.sleep(1.0)  # the RUN request is out; the model never returns
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 128 + sig and ("interrupted" in err or "aborted" in err or "terminated" in err)
    assert "Traceback" not in err
    assert not qemu_processes_for(elf)


def test_qemu_dies_with_a_killed_aotgen(hello_an500):
    """SIGKILL leaves no `finally` to run: QEMU must still go (Linux parent-death signal)."""
    elf = hello_an500 / "build/firmware.elf"
    script = ("import os, sys\nfrom aotgen.firmware import boards\nfrom aotgen.harness.qemu_session import QemuSerial\n"
              f"q = QemuSerial(boards.load_board('mps2_an500'), {str(elf)!r}).__enter__()\n"
              "print(q.proc.pid, flush=True)\nsys.stdin.read()\n")
    parent = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        qemu_pid = int(parent.stdout.readline())
        assert qemu_processes_for(elf)
    finally:
        parent.kill()
        parent.wait(timeout=10)
    deadline = time.monotonic() + 10
    while qemu_processes_for(elf) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not qemu_processes_for(elf), f"QEMU {qemu_pid} outlived its parent"


# ------------------------------------------------------------------------------ real boards


def test_flash_without_a_board_shows_the_flasher_output(tmp_path):
    """openocd is installed here but no ST-LINK is attached: its own error is shown."""
    if shutil.which("openocd") is None:
        pytest.skip("needs openocd")
    lib = tiny_library(tmp_path / "tiny", HANG_LIB_C)
    p = generate([lib], boards.load_board("nucleo_f746zg"), tmp_path / "p")
    firmware.build(p)
    proc = subprocess.run([AOTGEN, "flash", str(p)], capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
    assert "openocd (flashing nucleo_f746zg) failed" in proc.stderr and "Traceback" not in proc.stderr


def test_flash_without_flasher_names_the_apt_package(tmp_path, monkeypatch):
    lib = tiny_library(tmp_path / "tiny", HANG_LIB_C)
    p = generate([lib], boards.load_board("nucleo_f746zg"), tmp_path / "p")
    firmware.build(p)
    from aotgen.firmware.flash import flash

    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ToolNotFoundError, match=r"'openocd' not found on PATH: install it with `apt-get install openocd`"):
        flash(p)


def test_real_board_not_attached_is_a_clear_error(tmp_path):
    """No --port: the board file's USB id is looked up among this machine's serial ports."""
    lib = tiny_library(tmp_path / "tiny", HANG_LIB_C)
    p = generate([lib], boards.load_board("nucleo_f746zg"), tmp_path / "p")
    proc = subprocess.run([AOTGEN, "test", str(p), "-n", "1", "--model", str(HELLO)], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 6 and "Traceback" not in proc.stderr  # device
    assert "no serial port with USB id 0483:374b found; is the board connected? Give the port with --port" \
        in " ".join(proc.stderr.split())


def test_flash_refuses_qemu_boards(hello_an500):
    proc = subprocess.run([AOTGEN, "flash", str(hello_an500)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "runs in QEMU, there is nothing to flash" in proc.stderr


def test_real_board_path_against_the_host_board(tmp_path):
    """`aotgen test --port` on a real-board project, with the device side running on this machine
    behind a pty (aotgen_harness_host.c built from the project's own model copies): the whole
    real-board path but the flashing, counts reported as cycles."""
    from aotgen.harness.hostbuild import build_host_harness, start_host_harness

    board = boards.load_board("nucleo_f746zg")
    libs = [aotgen.compile(HELLO, output=tmp_path / "hello", prefix="hello", target=board.cpu).library,
            aotgen.compile(KWS, output=tmp_path / "kws", prefix="kws", target=board.cpu).library]
    p = generate(libs, board, tmp_path / "project")
    exe = build_host_harness(project.load_project(p).libraries(), tmp_path / "host")
    with start_host_harness(exe, max_seconds=TEST_LIMIT_S, pty=True) as dev:
        proc = subprocess.run([AOTGEN, "test", str(p), "--port", dev.url, "-n", "3", "--json"],
                              capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["passed"] and report["transport"] == dev.url and report["count_unit"] == "cycles"
    assert [m["prefix"] for m in report["models"]] == ["hello", "kws"]


@pytest.mark.board
@pytest.mark.skipif(not os.environ.get("AOTGEN_BOARD") or os.environ["AOTGEN_BOARD"].startswith("arduino_"),
                    reason="set AOTGEN_BOARD (and AOTGEN_BOARD_PORT) to test on an attached board "
                    "(Arduino boards: tests/test_project_arduino.py)")
def test_real_board_flash_and_test(tmp_path):
    """On an attached board: build hello + KWS, flash, and pass `aotgen test` with cycles."""
    p = built_project([HELLO, KWS], os.environ["AOTGEN_BOARD"], tmp_path, prefixes=["hello", "kws"])
    subprocess.run([AOTGEN, "flash", str(p)], check=True, timeout=300)
    result = test_firmware(p, count=3, port=os.environ.get("AOTGEN_BOARD_PORT"))
    assert result.passed and result.unit == "cycles"


def test_stale_firmware_is_refused_not_tested(tmp_path):
    """The project regenerated from a recompiled library (same model, same tensor sizes, other
    code) but not rebuilt: the firmware QEMU runs is the old one, and `aotgen test` refuses it,
    naming both identities, instead of testing it."""
    board = boards.load_board("mps2_an500")
    p = built_project([HELLO], "mps2_an500", tmp_path / "a")
    lib = aotgen.compile(HELLO, tmp_path / "lib", target="cortex-m7", io_in_arena=True).library  # other code
    project.generate_project([lib], board, "cmsis", p, force=True)  # not rebuilt
    proc = subprocess.run([AOTGEN, "test", str(p), "-n", "1"], capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0 and "stale or foreign" in proc.stderr and "firmware id" in proc.stderr, proc.stderr
    firmware.build(p)
    proc = subprocess.run([AOTGEN, "test", str(p), "-n", "1"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
