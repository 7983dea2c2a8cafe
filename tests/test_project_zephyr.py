"""The zephyr template: generated applications for every board file that names a Zephyr board
(structure and content, in CI), the build's clear errors, the sram0/DTCM fit check, and, when
ZEPHYR_BASE points at a Zephyr tree, a real `west build` + QEMU harness test."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from aotgen.firmware import boards
from aotgen.firmware import build as firmware
from aotgen.firmware import project
from aotgen.errors import ExitCode
from aotgen_testlib import AOTGEN, MODELS

HELLO = MODELS / "tflite_micro/hello_world_int8.tflite"
KWS = MODELS / "mlperf_tiny/kws_ref_model.tflite"
ZEPHYR_BOARDS = sorted(b.name for b in boards.list_boards()
                       if "zephyr" in b.templates and b.source and b.source.parent == boards.BUILTIN_BOARDS_DIR)


def aotgen(*args: str, timeout: float = 300, check: bool = True, env: dict | None = None) -> subprocess.CompletedProcess:
    proc = subprocess.run([AOTGEN, *args], capture_output=True, text=True, timeout=timeout, env=env)
    if check and proc.returncode != 0:
        pytest.fail(f"aotgen {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def test_the_promised_zephyr_boards_exist():
    assert {"nucleo_f746zg", "qemu_cortex_m3", "mps2_an385"} <= set(ZEPHYR_BOARDS)
    assert boards.load_board("mps2_an385").templates["zephyr"]["board"] == "mps2/an385"
    q = boards.load_board("qemu_cortex_m3")
    assert q.qemu.machine == "lm3s6965evb" and q.templates == {"zephyr": {"board": "qemu_cortex_m3"}}


@pytest.mark.parametrize("board_name", ZEPHYR_BOARDS)
def test_zephyr_project_structure(board_name, tmp_path):
    board = boards.load_board(board_name)
    out = tmp_path / "fw"
    aotgen("project", str(HELLO), "--board", board_name, "--template", "zephyr", "-o", str(out))
    info = project.load_project(out)
    assert info.build_system == "west" and info.elf == out / "build/zephyr/zephyr.elf"
    zboard = board.templates["zephyr"]["board"]
    assert info.template_settings == {"board": zboard}
    cmake = (out / "CMakeLists.txt").read_text()
    assert "find_package(Zephyr REQUIRED" in cmake
    assert "target_link_libraries(aotgen_models PUBLIC zephyr_interface)" in cmake
    assert "models/hello_world_int8/codegen/host/src/hello_world_int8_lib0.c" in cmake
    assert "models/hello_world_int8/codegen/host/include" in cmake
    for f in re.findall(r"^\s+(\S+\.c)$", cmake, re.M):
        assert (out / f).is_file(), f  # every source the app lists exists
    conf = dict(line.split("=", 1) for line in (out / "prj.conf").read_text().splitlines()
                if line and not line.startswith("#"))
    assert int(conf["CONFIG_MAIN_STACK_SIZE"]) == project.model_stack_bytes(info.libraries()) == 2048
    assert (conf.get("CONFIG_FPU") == "y") == board.has_fpu
    assert conf["CONFIG_UART_CONSOLE"] == "n" and conf["CONFIG_PRINTK"] == "n"  # the UART is the harness's
    assert "CONFIG_NEWLIB_LIBC" not in conf and "CONFIG_PICOLIBC" not in conf  # int8: no libm needed
    port = (out / "src/harness_port.c").read_text()  # the platform port every app runs on
    assert "DT_CHOSEN(zephyr_console)" in port and "k_cycle_get_32()" in port
    assert f"harness_cycles_are_instructions = {1 if board.qemu else 0};" in port
    assert "harness_serve(" in (out / "src/main.c").read_text()
    assert f"west build -b {zboard} ." in (out / "README.md").read_text()
    # The app's own C files compile for the board against the harness header (Zephyr's headers
    # are not here: only the Zephyr-free sources).
    if shutil.which("arm-none-eabi-gcc"):
        for c in ("src/aotgen_harness.c", "src/aotgen_models.c", "models/hello_world_int8/codegen/host/src/hello_world_int8_lib0.c"):
            subprocess.run(["arm-none-eabi-gcc", *board.gcc_flags, "-O2", "-Wall", "-Werror", "-Isrc",
                            "-Imodels/hello_world_int8/codegen/host/include", "-c", c, "-o", str(tmp_path / "x.o")],
                           cwd=out, check=True, timeout=60)


def test_libm_calls_pick_picolibc(tmp_path):
    src = tmp_path / "m_lib0.c"
    src.write_text("/* exp(-1) in a comment */\nfloat f(float x) { return expf(x) + tanhf(x) + my_expf(x); }\n")
    lib = SimpleNamespace(sources=[src])
    assert project.libm_calls([lib]) == ["expf", "tanhf"]
    assert project.model_stack_bytes([lib]) == 3072
    src.write_text("int g(int x) { return x * 2; } /* expf( */\n")
    assert project.libm_calls([lib]) == []


def test_build_needs_zephyr_base(tmp_path):
    out = tmp_path / "fw"
    aotgen("project", str(HELLO), "--board", "mps2_an385", "--template", "zephyr", "-o", str(out))
    env = {k: v for k, v in os.environ.items() if k != "ZEPHYR_BASE"}
    proc = aotgen("build", str(out), check=False, env=env)
    assert proc.returncode == 5 and "ZEPHYR_BASE is not set" in proc.stderr
    proc = aotgen("build", str(out), check=False, env={**env, "ZEPHYR_BASE": str(tmp_path)})
    assert proc.returncode == 5 and "is not a Zephyr tree" in proc.stderr
    proc = aotgen("flash", str(out), check=False, env=env)
    assert proc.returncode == 2 and "no firmware yet" in proc.stderr


def test_arena_goes_to_the_dtcm_or_the_build_refuses(tmp_path, monkeypatch):
    """nucleo_f746zg under Zephyr: sram0 (256 KiB) and the DTCM (64 KiB) are separate regions. A
    --workspace user arena that fits the DTCM goes there; the fit check counts sram0 alone."""
    out = tmp_path / "kws_user"
    aotgen("project", str(KWS), "--board", "nucleo_f746zg", "--template", "zephyr", "--workspace", "user", "-o", str(out))
    ws = (out / "src/workspace.c").read_text()
    info = project.load_project(out)
    arena = info.data["models"][0]["workspace_bytes"]  # 16,000 + the DSP kernels' scratch on the M7
    assert 16000 <= arena < 17000
    assert "__dtcm_bss_section" in ws and f"aotgen_workspace[{arena}u]" in ws
    firmware.check_fit_before_link(info)
    # A board like it with an 80 KiB RAM (16 KiB sram0 beside the 64 KiB DTCM).
    data = yaml.safe_load((boards.BUILTIN_BOARDS_DIR / "nucleo_f746zg.yaml").read_text())
    data.update(name="small_f7")
    data["memory"]["ram"]["size"] = "80KiB"
    (tmp_path / "boards").mkdir()
    (tmp_path / "boards/small_f7.yaml").write_text(yaml.safe_dump(data))
    monkeypatch.setenv("AOTGEN_BOARDS_PATH", str(tmp_path / "boards"))
    static = tmp_path / "kws_static"
    proc = aotgen("project", str(KWS), "--board", "small_f7", "--template", "zephyr", "-o", str(static), check=False)
    assert proc.returncode == ExitCode.DOES_NOT_FIT, proc.stderr
    assert re.search(r"in Zephyr's sram0 \(the DTCM is a separate region\) need \d+ bytes of ram, the board has "
                     r"16384 \(\d+ bytes over\)", proc.stderr), proc.stderr
    assert not static.exists()
    user = tmp_path / "kws_user_small"
    aotgen("project", str(KWS), "--board", "small_f7", "--template", "zephyr", "--workspace", "user", "-o", str(user))
    firmware.check_fit_before_link(project.load_project(user))  # the arena moved to the DTCM: fits


def _zephyr_ready() -> str | None:
    base = os.environ.get("ZEPHYR_BASE")
    if not base or not (Path(base) / "VERSION").is_file():
        return "ZEPHYR_BASE does not point at a Zephyr tree (no registry carries Zephyr: README, section Zephyr)"
    for tool in ("west", "cmake", "ninja", "dtc", "arm-none-eabi-gcc", "qemu-system-arm"):
        if not shutil.which(tool):
            return f"a Zephyr build needs {tool}"
    return None


@pytest.mark.skipif(_zephyr_ready() is not None, reason=_zephyr_ready() or "")
@pytest.mark.parametrize("board_name", ["mps2_an385", "qemu_cortex_m3"])
def test_real_west_build_and_qemu_harness_test(board_name, tmp_path):
    out = tmp_path / "fw"
    aotgen("project", str(HELLO), "--board", board_name, "--template", "zephyr", "-o", str(out))
    aotgen("build", str(out), timeout=600)
    report = json.loads(aotgen("test", str(out), "-n", "3", "--atol", "0", "--json", timeout=300).stdout)
    assert report["passed"] and report["count_unit"] == "instructions (QEMU icount)"



def test_regeneration_keeps_the_users_sources(tmp_path):
    """user/ is the documented place for the user's code: CMakeLists.txt compiles it, regenerating
    keeps it; with a Zephyr tree, the build compiles it."""
    out = tmp_path / "fw"
    args = ("project", str(HELLO), "--board", "mps2_an385", "--template", "zephyr", "-o", str(out))
    aotgen(*args)
    (out / "user").mkdir()
    (out / "user/mine.c").write_text("int users_own_symbol(void) { return 42; }\n")
    aotgen(*args, "--force")
    assert (out / "user/mine.c").is_file()
    assert "user/*.c" in (out / "CMakeLists.txt").read_text()
    if _zephyr_ready() is None:
        aotgen("build", str(out), timeout=600)
        assert list((out / "build").rglob("mine.c.obj")), "user/mine.c was not compiled"

@pytest.mark.parametrize("app, board_name", [("minimal", "mps2_an385"), ("mlperf-tiny", "mps2_an385"),
                                             ("mlperf-tiny", "nucleo_f746zg")])
def test_zephyr_project_runs_every_app(app, board_name, tmp_path):
    """Each app: its shared C files listed in CMakeLists.txt and present, main.c starting it, the
    port with the apps' two extra functions; the Zephyr-free sources compile for the board."""
    board = boards.load_board(board_name)
    out = tmp_path / "fw"
    aotgen("project", str(HELLO), "--board", board_name, "--template", "zephyr", "--app", app, "-o", str(out))
    assert project.load_project(out).app["name"] == app
    cmake = (out / "CMakeLists.txt").read_text()
    listed = re.findall(r"^\s+(src/\S+\.c)$", cmake, re.M)
    own = ["src/aotgen_app_minimal.c"] if app == "minimal" else \
        ["src/aotgen_mlperf.c", "src/aotgen_mlperf_model.c", "src/aotgen_models.c"]
    assert set(listed) == {"src/main.c", "src/harness_port.c", "src/workspace.c", *own}
    assert all((out / f).is_file() for f in listed) and not (out / "src/aotgen_harness.c").exists()
    main = (out / "src/main.c").read_text()
    assert ("aotgen_app_minimal()" if app == "minimal" else "aotgen_mlperf_serve()") in main
    port = (out / "src/harness_port.c").read_text()
    assert "uint32_t harness_cycles_hz(void)" in port and "void harness_timestamp_pin(int level)" in port
    assert ("0x40028000u" in port) == (board.timestamp_pin is not None)  # the board file's pin, or none
    if shutil.which("arm-none-eabi-gcc"):
        for c in own:
            subprocess.run(["arm-none-eabi-gcc", *board.gcc_flags, "-std=c99", "-O2", "-Wall", "-Wextra", "-Werror",
                            "-Isrc", "-Imodels/hello_world_int8/codegen/host/include", "-c", c,
                            "-o", str(tmp_path / "x.o")], cwd=out, check=True, timeout=60)


@pytest.mark.skipif(_zephyr_ready() is not None, reason=_zephyr_ready() or "")
def test_real_west_build_of_the_minimal_and_mlperf_apps(tmp_path):
    """On Zephyr's mps2/an385 in QEMU: the minimal app prints the reference's output, and
    `aotgen mlperf` drives the MLPerf Tiny app."""
    from aotgen.firmware import qemu
    from aotgen.harness.mlperf.driver import run_mlperf
    from aotgen.verify.reference import run_reference

    board = boards.load_board("mps2_an385")
    out = tmp_path / "min"
    aotgen("project", str(HELLO), "--board", board.name, "--template", "zephyr", "--app", "minimal", "-o", str(out))
    aotgen("build", str(out), timeout=600)
    try:  # Zephyr's main returns and the kernel idles: QEMU does not exit by itself
        text = qemu.run(board, out / "build/zephyr/zephyr.elf", timeout=15).output
    except qemu.QemuTimeout as e:
        text = e.output
    info = project.load_project(out)
    lib = info.libraries()[0]
    want = run_reference(lib.model_file, [[info.test_input(lib.prefix, lib.inputs[0].c_name)]])[0][0]
    m = re.search(rf"{lib.prefix}\.{lib.outputs[0].c_name} = \[(-?\d+)\]", text)
    assert m and abs(int(m.group(1)) - int(want.reshape(-1)[0])) <= 2, text
    assert "exit 0" in text
    out = tmp_path / "mlperf"
    aotgen("project", str(HELLO), "--board", board.name, "--template", "zephyr", "--app", "mlperf-tiny", "-o", str(out))
    aotgen("build", str(out), timeout=600)
    report = run_mlperf(out, "performance", iterations=3, warmups=1, windows=2)
    assert report.passed and report.clock == "qemu" and len(report.windows) == 2
