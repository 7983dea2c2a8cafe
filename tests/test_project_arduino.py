"""The arduino template: sketches for the Mega 2560 built with Debian's arduino-builder and tested
in simavr through the serial harness (exact AVR cycles), the RAM/flash fit check before building,
and the generate-only boards (Nano 33 BLE, Due, NUCLEO-F746ZG via STM32duino)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from aotgen.firmware import boards
from aotgen.firmware import build as firmware
from aotgen.firmware import project
from aotgen.errors import AotgenError, ExitCode
from aotgen.harness.runner import test_firmware as run_harness_test
from aotgen.harness.session import Session
from aotgen.harness.simavr import UNIT, SimavrSerial
from aotgen_testlib import AOTGEN, MODELS

HELLO = MODELS / "tflite_micro/hello_world_int8.tflite"
HELLO_FLOAT = MODELS / "tflite_micro/hello_world_float.tflite"
KWS = MODELS / "mlperf_tiny/kws_ref_model.tflite"
RESNET = MODELS / "mlperf_tiny/pretrainedResnet_quant.tflite"

needs_avr = pytest.mark.skipif(
    not all(shutil.which(t) for t in ("avr-gcc", "arduino-builder", "simavr"))
    or not Path("/usr/include/simavr/sim_avr.h").is_file(),
    reason="needs gcc-avr, avr-libc, arduino-builder, arduino-core-avr, simavr, libsimavr-dev",
)


def aotgen(*args: str, timeout: float = 300, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([AOTGEN, *args], capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        pytest.fail(f"aotgen {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


@pytest.fixture(scope="module")
def mega_hello(tmp_path_factory) -> Path:
    """hello_world_int8 for the Mega 2560, generated and built once."""
    out = tmp_path_factory.mktemp("mega") / "fw"
    aotgen("project", str(HELLO), "--board", "arduino_mega2560", "--template", "arduino", "-o", str(out))
    aotgen("build", str(out))
    return out


@needs_avr
def test_mega2560_sketch_layout_and_build(mega_hello):
    info = project.load_project(mega_hello)
    sketch = mega_hello / "aotgen_firmware"
    assert (sketch / "aotgen_firmware.ino").is_file()
    for f in ("harness_port.cpp", "aotgen_harness.c", "aotgen_harness.h", "aotgen_models.c",
              "hello_world_int8.h", "hello_world_int8_lib0.c"):
        assert (sketch / "src" / f).is_file(), f
    assert info.build_system == "arduino" and info.template_settings["fqbn"] == "arduino:avr:mega:cpu=atmega2560"
    assert info.elf == mega_hello / "build/aotgen_firmware.ino.elf" and info.elf.is_file()
    # Weights stay in flash: the constants are in .text (progmem), not in .data.
    syms = subprocess.run(["avr-nm", "-S", str(info.elf)], capture_output=True, text=True, timeout=60).stdout
    consts = [ln.split() for ln in syms.splitlines() if "hello_world_int8_const" in ln]
    assert consts and all(parts[2] in "tT" for parts in consts), consts
    # The __flash data ends far below 64 KiB, and RAM use is small.
    size = firmware.build(mega_hello)
    assert size.ram_used < 1024 and size.flash_used < 16 * 1024
    # The estimate the fit check uses before building covers what the linker then places.
    estimate = firmware.ram_estimate(info)
    assert sum(estimate.values()) - estimate["stack"] >= size.ram_used


@needs_avr
def test_mega2560_hello_world_bit_exact_in_simavr(mega_hello):
    """`aotgen test` starts the simavr bridge, runs 4 random inputs through the harness, compares
    with the live LiteRT reference bit-exactly (--atol 0), and reports exact AVR cycles."""
    t0 = time.monotonic()
    proc = aotgen("test", str(mega_hello), "-n", "4", "--atol", "0", "--json", timeout=120)
    report = json.loads(proc.stdout)
    assert report["passed"] and report["count_unit"] == UNIT == "cycles (simavr)"
    samples = report["models"][0]["samples"]
    assert len(samples) == 4
    for s in samples:
        assert s["outputs"][0]["max_abs_error"] == 0
        # Three tiny FC layers on an 8-bit core: tens of thousands of cycles, not zero or garbage.
        assert 10_000 < s["cycles"] < 500_000, s
    assert time.monotonic() - t0 < 60


@needs_avr
def test_mega2560_float_model_in_simavr(tmp_path):
    """The other shared model that fits the Mega: float32 (avr-libc's soft float)."""
    out = tmp_path / "fw"
    aotgen("project", str(HELLO_FLOAT), "--board", "arduino_mega2560", "--template", "arduino", "-o", str(out))
    aotgen("build", str(out))
    report = json.loads(aotgen("test", str(out), "-n", "3", "--json", timeout=120).stdout)
    assert report["passed"] and report["count_unit"] == UNIT


@needs_avr
def test_mega2560_runs_the_minimal_and_mlperf_apps_in_simavr(tmp_path):
    """The other apps fit the Mega too: the minimal sketch prints the reference's output, and
    `aotgen mlperf` drives the MLPerf Tiny sketch (simulated time, results checked)."""
    from aotgen.harness.mlperf.driver import run_mlperf
    from aotgen.verify.reference import run_reference

    board = boards.load_board("arduino_mega2560")
    out = tmp_path / "min"
    aotgen("project", str(HELLO), "--board", board.name, "--template", "arduino", "--app", "minimal", "-o", str(out))
    aotgen("build", str(out))
    info = project.load_project(out)
    lib = info.libraries()[0]
    text = b""
    with SimavrSerial(board, info.elf) as sim:  # the sketch runs the model once a second
        deadline = time.monotonic() + 30
        while text.count(b"exit ") < 2 and time.monotonic() < deadline:
            text += sim.transport.read(256, 0.2)
    text = text.decode().split("exit ", 1)[1]  # a whole round: the first may have started before we listened
    want = run_reference(lib.model_file, [[info.test_input(lib.prefix, lib.inputs[0].c_name)]])[0][0]
    assert f"{lib.prefix}.{lib.outputs[0].c_name} = [{int(want.reshape(-1)[0])}]" in text and "exit 0" in text, text
    assert " cycles\r\n" in text  # Timer1 cycles on the AVR
    out = tmp_path / "mlperf"
    aotgen("project", str(HELLO), "--board", board.name, "--template", "arduino", "--app", "mlperf-tiny", "-o", str(out))
    aotgen("build", str(out))
    report = run_mlperf(out, "performance", iterations=5, warmups=1, windows=2)
    assert report.passed and report.clock == "simavr" and report.median_throughput > 0


@needs_avr
def test_simavr_bridge_always_stops_and_counts_cycles(mega_hello):
    board = boards.load_board("arduino_mega2560")
    info = project.load_project(mega_hello)
    with SimavrSerial(board, info.elf) as sim:
        proc = sim.proc
        banner = Session(sim.transport).handshake(5.0)
        assert [m.name for m in banner.models] == ["hello_world_int8"] and not banner.instructions
        time.sleep(1.0)
    assert proc.poll() is not None  # stopped
    # SIGTERM makes the bridge report the exact simulated cycles; 2 s of wall time is millions.
    assert sim.total_cycles is not None and sim.total_cycles > 1_000_000


@needs_avr
def test_silent_avr_firmware_is_an_error_not_a_hang(mega_hello, tmp_path):
    """A firmware that never speaks the protocol: a clear error after the handshake timeout."""
    src = tmp_path / "spin.c"
    src.write_text("int main(void) { for (;;) { } }\n")
    elf = tmp_path / "spin.elf"
    subprocess.run(["avr-gcc", "-mmcu=atmega2560", "-O1", str(src), "-o", str(elf)], check=True, timeout=60)
    libs = project.load_project(mega_hello).libraries()
    t0 = time.monotonic()
    with pytest.raises(AotgenError, match="no firmware answered"):
        run_harness_test(elf, libs, board=boards.load_board("arduino_mega2560"), count=1, handshake_timeout=2.0)
    assert time.monotonic() - t0 < 20


def test_model_too_big_for_the_mega_is_refused_at_project(tmp_path):
    """kws_ref_model: a 16,000-byte arena on an 8 KiB part. Refused by `project` with the byte
    count and the does-not-fit exit code; nothing is written."""
    out = tmp_path / "kws"
    proc = aotgen("project", str(KWS), "--board", "arduino_mega2560", "--template", "arduino", "-o", str(out),
                  check=False)
    assert proc.returncode == ExitCode.DOES_NOT_FIT, proc.stderr
    m = re.search(r"need (\d+) bytes of ram, the board has 8192 \((\d+) bytes over\)", proc.stderr)
    assert m and int(m[1]) - 8192 == int(m[2]) and "model arenas 16000" in proc.stderr, proc.stderr
    assert not out.exists()


def test_weights_beyond_the_avr_flash_window_are_refused(tmp_path):
    """pretrainedResnet_quant: 79.6 KB of weights fit the 256 KiB flash but not the 64 KiB that
    __flash data (LPM) can address."""
    out = tmp_path / "resnet"
    proc = aotgen("project", str(RESNET), "--board", "arduino_mega2560", "--template", "arduino", "-o", str(out),
                  check=False)
    assert proc.returncode == ExitCode.DOES_NOT_FIT and "__flash" in proc.stderr and "bytes over" in proc.stderr
    assert not out.exists()


def test_an_edited_project_is_checked_again_at_build(tmp_path):
    """The build repeats the fit check: a project whose stack was raised by hand past the RAM is
    refused before any compiler runs."""
    out = tmp_path / "hello"
    aotgen("project", str(HELLO), "--board", "arduino_mega2560", "--template", "arduino", "-o", str(out))
    data = json.loads((out / "aotgen_project.json").read_text())
    data["context"]["stack_bytes"] = 9000
    (out / "aotgen_project.json").write_text(json.dumps(data))
    with pytest.raises(firmware.FitError) as e:
        firmware.build(out)
    assert e.value.region == "RAM" and "stack 9000" in str(e.value)
    assert not (out / "build").exists()



@needs_avr
def test_regeneration_keeps_the_users_sketch_sources(tmp_path):
    """<sketch>/src/user/ is the documented place for the user's code: Arduino compiles it, and
    regenerating replaces aotgen's files but keeps it."""
    out = tmp_path / "hello"
    aotgen("project", str(HELLO), "--board", "arduino_mega2560", "--template", "arduino", "-o", str(out))
    user = out / "aotgen_firmware/src/user"
    user.mkdir()
    (user / "mine.c").write_text("int users_own_symbol(void) { return 42; }\n")
    aotgen("project", str(HELLO), "--board", "arduino_mega2560", "--template", "arduino", "-o", str(out), "--force")
    assert (user / "mine.c").is_file()
    aotgen("build", str(out), timeout=600)
    assert list((out / "build").rglob("mine.c.o")), "src/user/mine.c was not compiled"

GENERATE_ONLY = {
    "arduino_nano33ble": ("arduino:mbed_nano:nano33ble", "cortex-m4"),
    "arduino_due": ("arduino:sam:arduino_due_x_dbg", "cortex-m3"),
    "nucleo_f746zg": ("STMicroelectronics:stm32:Nucleo_144:pnum=NUCLEO_F746ZG", "cortex-m7"),
}


@pytest.mark.parametrize("board_name", sorted(GENERATE_ONLY))
def test_generate_only_boards(board_name, tmp_path):
    fqbn, cpu = GENERATE_ONLY[board_name]
    board = boards.load_board(board_name)
    assert board.cpu == cpu and board.templates["arduino"]["fqbn"] == fqbn
    out = tmp_path / "fw"
    aotgen("project", str(HELLO), "--board", board_name, "--template", "arduino", "-o", str(out),
           "--set", "sketch_name=mysketch")
    info = project.load_project(out)
    assert info.template_settings == {"fqbn": fqbn} and info.build_system == "arduino"
    assert (out / "mysketch/mysketch.ino").is_file() and (out / "mysketch/src/hello_world_int8_lib0.c").is_file()
    assert f"--fqbn {fqbn}" in (out / "README.md").read_text()
    assert json.loads((out / "models/hello_world_int8/metadata.json").read_text())["target"]["cpu"] == cpu
    # The sketch's C (model, harness, model table) compiles for the board's CPU with -Wall -Werror.
    if shutil.which("arm-none-eabi-gcc"):
        for c in ("aotgen_harness.c", "aotgen_models.c", "hello_world_int8_lib0.c"):
            subprocess.run(["arm-none-eabi-gcc", *board.gcc_flags, "-std=gnu11", "-O2", "-Wall", "-Werror", "-c",
                            str(out / "mysketch/src" / c), "-o", str(tmp_path / (c + ".o"))],
                           check=True, timeout=60)
    # Debian ships no core for these boards: without arduino-cli the build says what to install.
    if not shutil.which("arduino-cli"):
        proc = aotgen("build", str(out), check=False)
        assert proc.returncode != 0 and "arduino-cli core install" in proc.stderr, proc.stderr


def test_flash_errors_name_what_is_missing(tmp_path, mega_hello):
    # The Mega's flasher is avrdude, which needs the port.
    proc = aotgen("flash", str(mega_hello), check=False)
    assert proc.returncode == (5 if not shutil.which("avrdude") else 2)
    assert ("apt-get install avrdude" in proc.stderr) if not shutil.which("avrdude") else ("--port" in proc.stderr)
    # Boards that list no flasher upload with arduino-cli.
    out = tmp_path / "due"
    aotgen("project", str(HELLO), "--board", "arduino_due", "-o", str(out))  # arduino: the Due's only template
    proc = aotgen("flash", str(out), check=False)
    assert proc.returncode == 2 and "no firmware yet" in proc.stderr
    if not shutil.which("arduino-cli"):
        (out / "build").mkdir()
        (out / "build/aotgen_firmware.ino.elf").write_bytes(b"")
        proc = aotgen("flash", str(out), check=False)
        assert proc.returncode == 5 and "arduino-cli core install arduino:sam" in proc.stderr


def test_board_without_arduino_refuses_the_template(tmp_path):
    with pytest.raises(AotgenError, match="does not support template 'arduino'"):
        project.generate_project([], boards.load_board("mps2_an385"), "arduino", tmp_path / "x")


def test_mega2560_board_file_datasheet_values():
    b = boards.load_board("arduino_mega2560")
    assert (b.mcu, b.cpu, b.clock_hz, b.fpu, b.float_abi) == ("ATmega2560", "atmega2560", 16_000_000, "none", "soft")
    assert (b.flash.origin, b.flash.size) == (0, 256 * 1024)
    assert (b.ram.origin, b.ram.size) == (0x800200, 8 * 1024)  # avr-gcc's data address of SRAM 0x200
    assert (b.console.peripheral, b.console.base, b.console.baud) == ("USART0", 0xC0, 115200)
    assert b.simulator == boards.SimulatorConfig("simavr", "atmega2560", 16_000_000) and b.qemu is None
    assert b.runnable_here == "simavr" and b.is_avr and b.gcc_flags == ["-mmcu=atmega2560"]
    assert (b.usb_vid, b.usb_pid) == (0x2341, 0x0042) and b.cycle_counter == "avr_timer1"


def test_simulator_and_counter_fields_are_validated(tmp_path):
    data = yaml.safe_load((boards.BUILTIN_BOARDS_DIR / "arduino_mega2560.yaml").read_text())
    bad = dict(data, name="bad1", simulator={"name": "gem5", "mcu": "x", "clock_hz": 1})
    (tmp_path / "bad1.yaml").write_text(yaml.safe_dump(bad))
    with pytest.raises(boards.BoardFileError, match=r"bad1.yaml: field 'simulator.name': 'gem5' is not one of simavr"):
        boards.load_board_file(tmp_path / "bad1.yaml")
    arm = yaml.safe_load((boards.BUILTIN_BOARDS_DIR / "nucleo_f746zg.yaml").read_text())
    (tmp_path / "bad2.yaml").write_text(yaml.safe_dump(dict(arm, name="bad2", cycle_counter="avr_timer1")))
    with pytest.raises(boards.BoardFileError, match="avr_timer1 is the counter of AVR boards"):
        boards.load_board_file(tmp_path / "bad2.yaml")


_REAL = os.environ.get("AOTGEN_BOARD", "")


@pytest.mark.board
@pytest.mark.skipif(not _REAL.startswith("arduino_") or not os.environ.get("AOTGEN_BOARD_PORT"),
                    reason="set AOTGEN_BOARD=arduino_... and AOTGEN_BOARD_PORT to test on an attached Arduino")
def test_real_arduino_upload_and_test(tmp_path):
    """On an attached Arduino: build hello_world_int8, upload (avrdude / arduino-cli), pass `aotgen
    test` over its USB serial port with core cycles."""
    port = os.environ["AOTGEN_BOARD_PORT"]
    out = tmp_path / "fw"
    aotgen("project", str(HELLO), "--board", _REAL, "--template", "arduino", "-o", str(out))
    aotgen("build", str(out))
    aotgen("flash", str(out), "--port", port)
    report = json.loads(aotgen("test", str(out), "--port", port, "-n", "3", "--atol", "0", "--json", timeout=120).stdout)
    assert report["passed"] and report["count_unit"] == "cycles"
