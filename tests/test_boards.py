"""Board files: every built-in board loads and makes sense; bad input gives one clear error."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from aotgen.firmware import boards
from aotgen.firmware import qemu
from aotgen.errors import AotgenError

ALL = [f.stem for f in sorted(boards.BUILTIN_BOARDS_DIR.glob("*.yaml"))]
QEMU_BOARDS = ["mps2_an385", "mps2_an386", "mps2_an500", "mps2_an505", "mps3_an547", "netduinoplus2"]
REAL_BOARDS = ["nucleo_f746zg", "nucleo_l4r5zi", "nucleo_f401re"]
# Boards the cmsis template builds (the others are Arduino/Zephyr-only: tests/test_project_arduino.py,
# tests/test_project_zephyr.py).
CMSIS_BOARDS = [n for n in ALL if "cmsis" in boards.load_board(n).templates]


def test_the_promised_boards_exist():
    assert set(QEMU_BOARDS + REAL_BOARDS) <= set(ALL)
    assert [b.name for b in boards.list_boards()] == sorted(ALL)


@pytest.mark.parametrize("name", CMSIS_BOARDS)
def test_board_is_consistent(name):
    b = boards.load_board(name)
    assert b.name == name and b.source == boards.BUILTIN_BOARDS_DIR / f"{name}.yaml"
    assert "cmsis" in b.templates
    assert b.flash.size > 0 and b.ram.size > 0
    if b.qemu:
        assert b.cycle_counter == "systick_icount" and b.qemu.sysclk_hz > 0
    else:
        assert b.cycle_counter == "dwt" and b.flash_methods and b.usb_vid is not None
        assert b.qemu_twin in ALL and boards.load_board(b.qemu_twin).qemu_runnable


def test_nucleo_f746zg_datasheet_values():
    b = boards.load_board("nucleo_f746zg")
    assert (b.mcu, b.cpu, b.fpu, b.float_abi, b.clock_hz) == ("STM32F746ZG", "cortex-m7", "fpv5-sp-d16", "hard", 216_000_000)
    assert (b.flash.origin, b.flash.size) == (0x08000000, 1024 * 1024)
    assert (b.ram.origin, b.ram.size) == (0x20000000, 320 * 1024)
    assert (b.dtcm.origin, b.dtcm.size) == (0x20000000, 64 * 1024)
    assert (b.console.peripheral, b.console.base, b.console.baud) == ("USART3", 0x40004800, 115200)
    assert (b.console.pins["tx"], b.console.pins["rx"]) == ("PD8", "PD9")
    assert (b.usb_vid, b.usb_pid) == (0x0483, 0x374B)
    assert b.qemu_twin == "mps2_an500"
    assert b.templates["zephyr"]["board"] == "nucleo_f746zg"
    assert b.templates["arduino"]["fqbn"] == "STMicroelectronics:stm32:Nucleo_144:pnum=NUCLEO_F746ZG"
    assert {m.tool for m in b.flash_methods} == {"openocd", "st-flash", "pyocd"}
    st_flash = next(m for m in b.flash_methods if m.tool == "st-flash")
    assert st_flash.argv(Path("build/firmware.elf"))[-2:] == ["build/firmware.bin", "0x08000000"]


@pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None, reason="needs gcc-arm-none-eabi")
@pytest.mark.parametrize("name", [n for n in CMSIS_BOARDS if not boards.load_board(n).is_avr])
def test_gcc_accepts_board_flags_and_picks_a_matching_multilib(name):
    b = boards.load_board(name)
    out = subprocess.run(["arm-none-eabi-gcc", *b.gcc_flags, "-print-multi-directory"],
                         capture_output=True, text=True, timeout=30, check=True).stdout.strip()
    assert out.startswith("thumb/")
    assert ("nofp" in out) == (not b.has_fpu), out


@pytest.mark.skipif(shutil.which("qemu-system-arm") is None, reason="needs qemu-system-arm")
def test_qemu_machines_exist():
    machines = subprocess.run(["qemu-system-arm", "-machine", "help"], capture_output=True, text=True,
                              timeout=30, check=True).stdout.split()
    for name in QEMU_BOARDS:
        assert boards.load_board(name).qemu.machine in machines


def test_qemu_command_line():
    argv = qemu.command_line(boards.load_board("mps2_an500"), Path("fw.elf"), serial="tcp:127.0.0.1:4444,server=on")
    assert argv[:3] == ["qemu-system-arm", "-machine", "mps2-an500"]
    assert argv[argv.index("-serial") + 1] == "tcp:127.0.0.1:4444,server=on"
    assert argv[argv.index("-icount") + 1] == "shift=0"
    assert argv[-2:] == ["-kernel", "fw.elf"]
    with pytest.raises(AotgenError, match="twin is mps2_an500"):
        qemu.command_line(boards.load_board("nucleo_f746zg"), Path("fw.elf"))


def test_unknown_board_lists_known_ones():
    with pytest.raises(AotgenError) as e:
        boards.load_board("nucleo_f999")
    msg = str(e.value)
    assert "unknown board 'nucleo_f999'" in msg
    for name in ALL:
        assert name in msg


def _board_dir(tmp_path: Path, monkeypatch, name: str, edit) -> Path:
    data = yaml.safe_load((boards.BUILTIN_BOARDS_DIR / "nucleo_f746zg.yaml").read_text())
    data["name"] = name
    edit(data)
    (tmp_path / f"{name}.yaml").write_text(yaml.safe_dump(data))
    monkeypatch.setenv("AOTGEN_BOARDS_PATH", str(tmp_path))
    return tmp_path / f"{name}.yaml"


@pytest.mark.parametrize(
    "edit, field, detail",
    [
        (lambda d: d.pop("cpu"), "cpu", "missing"),
        (lambda d: d.update(cpu="cortex-a53"), "cpu", "not one of"),
        (lambda d: d["memory"]["flash"].update(size="lots"), "memory.flash.size", "expected a size"),
        (lambda d: d["memory"]["ram"].pop("origin"), "memory.ram.origin", "missing"),
        (lambda d: d["memory"].update(dtcm={"origin": 0x30000000, "size": "64KiB"}), "memory.dtcm", "inside memory.ram"),
        (lambda d: d["console"].update(baud="fast"), "console.baud", "non-negative integer"),
        (lambda d: d["console"]["pins"].update(tx="D8"), "console.pins.tx", "pin like PD8"),
        (lambda d: d["console"]["setup"][1].pop("mask"), "console.setup[1]", "missing"),
        (lambda d: d.update(flash=[{"tool": "openocd", "command": "openocd -f x"}]), "flash[0].command", "list of strings"),
        (lambda d: d.update(fpu="none"), "float_abi", "must be 'soft'"),
    ],
)
def test_malformed_board_names_file_and_field(tmp_path, monkeypatch, edit, field, detail):
    path = _board_dir(tmp_path, monkeypatch, "my_board", edit)
    with pytest.raises(boards.BoardFileError) as e:
        boards.load_board("my_board")
    assert str(path) in str(e.value)
    assert f"field '{field}'" in str(e.value)
    assert detail in str(e.value)


def test_invalid_yaml_and_wrong_file_name(tmp_path, monkeypatch):
    monkeypatch.setenv("AOTGEN_BOARDS_PATH", str(tmp_path))
    (tmp_path / "broken.yaml").write_text("name: broken\ncpu: [cortex-m4\n")
    with pytest.raises(boards.BoardFileError, match=r"broken\.yaml: invalid YAML"):
        boards.load_board("broken")
    (tmp_path / "renamed.yaml").write_text((boards.BUILTIN_BOARDS_DIR / "mps2_an385.yaml").read_text())
    with pytest.raises(boards.BoardFileError, match="'name' is 'mps2_an385' but the file is renamed.yaml"):
        boards.load_board("renamed")


def test_extra_board_folder_is_listed(tmp_path, monkeypatch):
    _board_dir(tmp_path, monkeypatch, "my_f7", lambda d: d["memory"]["flash"].update(size="512KiB"))
    assert boards.load_board("my_f7").flash.size == 512 * 1024
    assert "my_f7" in [b.name for b in boards.list_boards()]


def test_parse_size():
    assert boards.parse_size("320KiB") == 320 * 1024
    assert boards.parse_size("2MiB") == 2 * 1024 * 1024
    assert boards.parse_size(4096) == 4096
    for bad in ("1 MB", "-1", True, "KiB"):
        with pytest.raises(ValueError):
            boards.parse_size(bad)


@pytest.mark.skipif(shutil.which("openocd") is None, reason="needs openocd")
@pytest.mark.parametrize("name", REAL_BOARDS)
def test_openocd_config_files_exist(name):
    """Every `-f` file of a board's openocd command is one that openocd ships."""
    scripts = Path(shutil.which("openocd")).resolve().parents[1] / "share/openocd/scripts"
    method = next(m for m in boards.load_board(name).flash_methods if m.tool == "openocd")
    files = [method.command[i + 1] for i, a in enumerate(method.command) if a == "-f"]
    assert files and all((scripts / f).is_file() for f in files), files


def test_a_project_keeps_using_the_board_file_it_was_made_for(tmp_path):
    """A board found through AOTGEN_BOARDS_PATH is recorded in the project by path: build and
    test find it without the variable."""
    import json
    import os

    from aotgen_testlib import AOTGEN, MODELS

    data = yaml.safe_load((boards.BUILTIN_BOARDS_DIR / "mps2_an386.yaml").read_text())
    data["name"] = "my_an386"
    (tmp_path / "boards").mkdir()
    (tmp_path / "boards/my_an386.yaml").write_text(yaml.safe_dump(data))
    env = {k: v for k, v in os.environ.items() if k != "AOTGEN_BOARDS_PATH"}
    out = tmp_path / "fw"
    subprocess.run([AOTGEN, "project", str(MODELS / "tflite_micro/hello_world_int8.tflite"), "--board", "my_an386",
                    "-o", str(out)], env={**env, "AOTGEN_BOARDS_PATH": str(tmp_path / "boards")}, check=True,
                   capture_output=True, timeout=300)
    assert json.loads((out / "aotgen_project.json").read_text())["board"]["source"] == str(tmp_path / "boards/my_an386.yaml")
    subprocess.run([AOTGEN, "build", str(out)], env=env, check=True, capture_output=True, timeout=600)
    proc = subprocess.run([AOTGEN, "test", str(out), "-n", "2", "--json"], env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["passed"]
