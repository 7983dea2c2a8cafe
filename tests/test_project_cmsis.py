"""The cmsis template end to end with the real toolchain: compile real models, generate a project
per board, build it, and on QEMU boards run it and compare with LiteRT's reference kernels.

Needs gcc-arm-none-eabi, libnewlib-arm-none-eabi and qemu-system-arm (ci/setup.sh installs them);
the models are tests/models.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import threading
from pathlib import Path

import numpy as np
import pytest
import yaml

import aotgen
from aotgen.firmware import boards
from aotgen.firmware import build as firmware
from aotgen.compiler import mlf
from aotgen.firmware import project
from aotgen.firmware.project_info import ProjectInfo
from aotgen.firmware import qemu
from aotgen.errors import AotgenError, ToolNotFoundError
from aotgen.harness.runner import run_embedded
from aotgen.verify.reference import run_reference
from aotgen.compiler.targets import CPUS
from aotgen_testlib import MODELS as TEST_MODELS

MODELS = {
    "hello": TEST_MODELS / "tflite_micro/hello_world_int8.tflite",
    "kws": TEST_MODELS / "mlperf_tiny/kws_ref_model.tflite",
    "vww": TEST_MODELS / "mlperf_tiny/vww_96_int8.tflite",
    "hello_float": TEST_MODELS / "tflite_micro/hello_world_float.tflite",
}
ALL_BOARDS = [b.name for b in boards.list_boards()
              if b.source and b.source.parent == boards.BUILTIN_BOARDS_DIR and "cmsis" in b.templates]

pytestmark = [
    pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None, reason="needs gcc-arm-none-eabi"),
]


@pytest.fixture(scope="session")
def cmsis_compiled(tmp_path_factory):
    """compiled(model, cpu) -> ModelLibrary, compiled once per (model, cpu) in the session."""
    cache: dict[tuple[str, str], mlf.ModelLibrary] = {}
    root = tmp_path_factory.mktemp("cmsis_mlf")

    def get(model: str, cpu: str) -> mlf.ModelLibrary:
        target = cpu if cpu in CPUS else "host"
        if (model, target) not in cache:
            out = root / f"{model}_{target}"
            cache[(model, target)] = aotgen.compile(MODELS[model], output=out, prefix=model, target=target).library
        return cache[(model, target)]

    return get


def make_tiny_mlf(root: Path, prefix: str = "tiny", n: int = 8) -> mlf.ModelLibrary:
    """A hand-written library honouring docs/model-library-format.md (for failure-path tests that
    must not depend on the compiler): y = clamp(roundf(x * scale) + bias)."""
    inc, src = root / "codegen/host/include", root / "codegen/host/src"
    inc.mkdir(parents=True)
    src.mkdir(parents=True)
    (inc / f"{prefix}.h").write_text(
        f"#include <stdint.h>\n#define {prefix.upper()}_WORKSPACE_SIZE {4 * n}\n"
        f"struct {prefix}_inputs {{ const int8_t* x; }};\nstruct {prefix}_outputs {{ int8_t* y; }};\n"
        f"int32_t {prefix}_run(struct {prefix}_inputs* i, struct {prefix}_outputs* o);\n")
    (src / f"{prefix}_lib0.c").write_text(
        f'#include <math.h>\n#include "{prefix}.h"\n'
        f"static const float scale[4] = {{1.5f, -0.5f, 2.25f, 0.75f}};\n"
        f"static float arena[{n}];\n"
        f"int32_t {prefix}_run(struct {prefix}_inputs* in, struct {prefix}_outputs* out) {{\n"
        f"  for (int i = 0; i < {n}; i++) arena[i] = roundf((float)in->x[i] * scale[i % 4]);\n"
        f"  for (int i = 0; i < {n}; i++) {{ int v = (int)arena[i] + 3;\n"
        f"    out->y[i] = (int8_t)(v < -128 ? -128 : v > 127 ? 127 : v); }}\n  return 0;\n}}\n")
    tensor = {"shape": [1, n], "dtype": "int8", "bytes": n, "quantization": None}
    (root / "metadata.json").write_text(json.dumps({
        "schema_version": 1, "prefix": prefix, "model": {"file": "none"}, "options": {"workspace": "static"},
        "inputs": [dict(tensor, name="x", c_name="x")], "outputs": [dict(tensor, name="y", c_name="y")],
        "workspace_bytes": 4 * n, "constant_bytes": 16, "operators": [], "kernels": [],
        "sources": [f"codegen/host/src/{prefix}_lib0.c"], "objects": []}))
    return mlf.load(root)


def generate(libs, board_name, out, **kw) -> Path:
    return project.generate_project(libs, boards.load_board(board_name), "cmsis", out, **kw)


def check_against_reference(info: ProjectInfo, runs: dict[str, project.ModelRun], models: list[str]):
    """Every model's firmware output equals LiteRT BUILTIN_REF's within 2 LSB (int8)."""
    for name in models:
        run = runs[name]
        assert run.status == 0
        meta = next(m for m in info.data["models"] if m["prefix"] == name)
        x = [info.test_input(name, t["c_name"]) for t in meta["inputs"]]
        ref = run_reference(MODELS[name], [x])[0]
        for t, r in zip(meta["outputs"], ref):
            if t["dtype"] == "float32":
                np.testing.assert_allclose(run.outputs[t["c_name"]], r.reshape(-1), rtol=1e-5, atol=1e-6)
                continue
            got = run.outputs[t["c_name"]].astype(np.int32)
            diff = np.abs(got - r.reshape(-1).astype(np.int32))
            assert diff.max() <= 2, f"{name}.{t['c_name']}: firmware {got} vs litert_ref {r.reshape(-1)}"


@pytest.mark.parametrize("board_name", ALL_BOARDS)
def test_board_builds_hello_and_kws(board_name, cmsis_compiled, tmp_path):
    board = boards.load_board(board_name)
    libs = [cmsis_compiled("hello", board.cpu), cmsis_compiled("kws", board.cpu)]
    info = project.load_project(generate(libs, board_name, tmp_path / "p"))
    assert info.board_name == board_name and info.prefixes == ["hello", "kws"]
    copies = info.libraries()  # full MLF copies: sources, header and the source model load back
    assert [c.model_file.name for c in copies] == [MODELS["hello"].name, MODELS["kws"].name]
    assert all(f.is_file() for c in copies for f in [c.header, *c.sources])

    lines: list[str] = []
    result = firmware.build(info.root, on_line=lines.append)
    assert result.elf.is_file()
    # Same totals as the linker's own report (RAM: up to a few bytes of alignment padding).
    unit = {"B": 1, "KB": 1024, "MB": 1024**2, "GB": 1024**3}  # ld shows exact multiples in KB/MB
    used = {m.group(1): int(m.group(2)) * unit[m.group(3)]
            for m in (re.match(r"\s*(\w+):\s+(\d+) (B|KB|MB|GB)\s", ln) for ln in lines) if m}
    assert used["FLASH"] == result.flash_used
    assert result.ram_used <= used["RAM"] + used.get("DTCM", 0) <= result.ram_used + 64
    weights = sum(lib.constant_bytes for lib in libs)
    arenas = sum(lib.workspace_bytes for lib in libs)
    assert weights < result.flash_used <= board.flash.size
    assert arenas < result.ram_used <= board.ram.size
    if board.dtcm is not None and board.dtcm.size < board.ram.size:
        addr, size = result.sections[".dtcm_bss"]  # the arenas went to the DTCM
        assert board.dtcm.origin <= addr and addr + size <= board.dtcm.end and size >= arenas

    if board.qemu_runnable:
        runs = run_embedded(board, result.elf, info.root)
        assert list(runs) == ["hello", "kws"]
        assert runs["kws"].unit == "instructions (QEMU icount)" and runs["kws"].count > runs["hello"].count > 0
        check_against_reference(info, runs, ["hello", "kws"])


def test_icount_is_deterministic(cmsis_compiled, tmp_path):
    """Under -icount shift=0 the instruction count of the same firmware is the same every run."""
    board = boards.load_board("mps2_an500")
    p = generate([cmsis_compiled("hello", board.cpu)], board.name, tmp_path / "p")
    elf = firmware.build(p).elf
    # Within one SysTick period (40 instructions at 25 MHz): host bytes arrive in real time, so
    # the tick phase at the start of a run varies.
    counts = [run_embedded(board, elf, p)["hello"].count for _ in range(2)]
    assert abs(counts[0] - counts[1]) <= 1e9 / board.qemu.sysclk_hz, counts


QEMU_BOARDS = [b for b in ALL_BOARDS if boards.load_board(b).qemu_runnable]


@pytest.mark.parametrize("board_name", QEMU_BOARDS)
def test_qemu_counter_counts_instructions(board_name, tmp_path):
    """A loop of exactly 2 * N instructions reads as 2 * N (plus call overhead) on every QEMU
    board: checks each board's SysTick clock (qemu.sysclk_hz) and the ticks -> instructions math."""
    n = 1_000_000
    board = boards.load_board(board_name)
    lib = make_tiny_mlf(tmp_path / "tiny")  # its run() replaced before the project is made from it
    (lib.root / "codegen/host/src/tiny_lib0.c").write_text(
        '#include "tiny.h"\nint32_t tiny_run(struct tiny_inputs* i, struct tiny_outputs* o) {\n'
        f'  uint32_t n = {n}u;\n'
        '  __asm__ volatile("1: subs %0, %0, #1\\n bne 1b\\n" : "+r"(n) : : "cc");\n  return 0;\n}\n')
    p = generate([lib], board_name, tmp_path / "p")
    run = run_embedded(board, firmware.build(p).elf, p)["tiny"]
    assert run.unit == "instructions (QEMU icount)"
    assert 2 * n <= run.count <= 2 * n + 200, run.count


def test_shared_user_workspace(cmsis_compiled, tmp_path):
    """Libraries compiled with --workspace user share one arena, sized for the largest."""
    board = boards.load_board("mps2_an500")
    libs = [aotgen.compile(MODELS[m], output=tmp_path / m, prefix=m, target=board.cpu, workspace="user").library
            for m in ("hello", "kws")]
    p = generate(libs, board.name, tmp_path / "p")
    assert f"AOTGEN_WORKSPACE_BYTES {max(lib.workspace_bytes for lib in libs)}u" in (p / "src/workspace.c").read_text() + (p / "src/workspace.h").read_text()
    check_against_reference(project.load_project(p), run_embedded(board, firmware.build(p).elf, p), ["hello", "kws"])


@pytest.mark.parametrize("board_name", ["mps2_an385", "mps2_an386"])
def test_float_model_soft_and_hard_float(board_name, cmsis_compiled, tmp_path):
    """Float inputs are embedded exactly (hex literals) and float outputs read back bit-exact."""
    board = boards.load_board(board_name)
    p = generate([cmsis_compiled("hello_float", board.cpu)], board_name, tmp_path / "p")
    check_against_reference(project.load_project(p), run_embedded(board, firmware.build(p).elf, p), ["hello_float"])


ECHO_MAIN = r"""
#include "console.h"
#include "platform.h"
int main(void) {
    platform_init();
    console_puts("ready\n");
    uint8_t buf[5];
    for (int i = 0; i < 5; i++) {
        int c = platform_read_byte(5000);
        if (c < 0) platform_exit(100 + i);
        buf[i] = (uint8_t)(c + 1);
    }
    platform_write(buf, sizeof buf);
    platform_exit(platform_read_byte(10) == -1 ? 0 : 99);  /* nothing more: times out */
}
"""


@pytest.mark.parametrize("board_name", QEMU_BOARDS)
def test_platform_console_is_two_way(board_name, tmp_path):
    """The platform layer the serial harness builds on: binary-clean reads with timeout, writes.
    (QEMU's STM32 USART drops bytes sent before the firmware enables it: send after the banner.)"""
    board = boards.load_board(board_name)
    p = generate([make_tiny_mlf(tmp_path / "tiny")], board_name, tmp_path / "p", extra_files={"src/main.c": ECHO_MAIN})
    elf = firmware.build(p).elf
    proc = subprocess.Popen(qemu.command_line(board, elf), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL)
    watchdog = threading.Timer(30, proc.kill)  # readline() below has no timeout of its own
    watchdog.start()
    try:
        assert proc.stdout.readline() == b"ready\n"
        proc.stdin.write(b"a\x00\xfe\xffz")
        proc.stdin.flush()
        out, _ = proc.communicate(timeout=30)
    finally:
        watchdog.cancel()
        proc.kill()
        proc.wait()
    assert (proc.returncode, out) == (0, b"b\x01\xff\x00{")


def test_two_inputs_two_outputs_odd_names(tmp_path):
    """Several inputs and outputs whose tensor names are not C identifiers (ONNX model built in
    tests/onnx_builders.py), compared with onnxruntime."""
    import onnx_builders

    board = boards.load_board("mps2_an386")
    model = onnx_builders.two_inputs(tmp_path / "two_inputs.onnx")
    lib = aotgen.compile(model, output=tmp_path / "mlf", prefix="two", target=board.cpu).library
    p = generate([lib], board.name, tmp_path / "p")
    info, run = project.load_project(p), run_embedded(board, firmware.build(p).elf, p)["two"]
    ref = run_reference(model, [[info.test_input("two", t.c_name) for t in lib.inputs]])[0]
    assert len(run.outputs) == len(lib.outputs) == 2
    for t, r in zip(lib.outputs, ref):
        np.testing.assert_allclose(run.outputs[t.c_name], r.reshape(-1), rtol=1e-5, atol=1e-5)


@pytest.mark.skipif(shutil.which("qemu-system-arm") is None, reason="needs qemu-system-arm")
def test_nucleo_f401re_firmware_boots_on_the_f405_model(cmsis_compiled, tmp_path):
    """The real-board build (RCC/GPIO setup, USART2, DWT counter, no semihosting) runs unchanged on
    QEMU's STM32F405 (netduinoplus2), whose second UART is USART2 at the same address. QEMU does
    not emulate DWT, so the cycle count reads 0 there."""
    board = boards.load_board("nucleo_f401re")
    p = generate([cmsis_compiled("hello", board.cpu), cmsis_compiled("kws", board.cpu)], board.name, tmp_path / "p")
    elf = firmware.build(p).elf
    runs = run_embedded(boards.load_board("netduinoplus2"), elf, p, uart_index=1)
    assert list(runs) == ["hello", "kws"]
    assert runs["kws"].unit == "cycles"
    check_against_reference(project.load_project(p), runs, ["hello", "kws"])


@pytest.mark.slow
def test_nucleo_f746zg_builds_vww(cmsis_compiled, tmp_path):
    """vww_96_int8 (~220 KB of weights) links for the NUCLEO-F746ZG, and runs on its QEMU twin."""
    board = boards.load_board("nucleo_f746zg")
    lib = cmsis_compiled("vww", board.cpu)
    result = firmware.build(generate([lib], board.name, tmp_path / "f7"))
    assert lib.constant_bytes < result.flash_used <= board.flash.size
    assert result.ram_used <= board.ram.size

    twin = boards.load_board(board.qemu_twin)
    p = generate([cmsis_compiled("vww", twin.cpu)], twin.name, tmp_path / "twin")
    check_against_reference(project.load_project(p), run_embedded(twin, firmware.build(p).elf, p, timeout=300), ["vww"])


def test_refuses_to_overwrite_without_force(cmsis_compiled, tmp_path):
    lib = cmsis_compiled("hello", "cortex-m4")
    out = tmp_path / "p"
    out.mkdir()
    (out / "mine.txt").write_text("keep me")
    with pytest.raises(AotgenError, match="is not empty .*mine.txt.*use --force"):
        generate([lib], "mps2_an386", out)
    with pytest.raises(AotgenError, match="not written by aotgen"):
        generate([lib], "mps2_an386", out, force=True)
    assert [p.name for p in out.iterdir()] == ["mine.txt"]


def test_regeneration_keeps_the_users_sources(cmsis_compiled, tmp_path):
    """user/ is the documented place for the user's code: regenerating and rebuilding keeps it, and
    the firmware links it."""
    lib = cmsis_compiled("hello", "cortex-m4")
    out = generate([lib], "mps2_an386", tmp_path / "p")
    (out / "user").mkdir()
    (out / "user/mine.c").write_text("int users_own_symbol(void) { return 42; }\n")
    (out / "src/main.c").write_text("/* edited */\n" + (out / "src/main.c").read_text())
    generate([lib], "mps2_an386", out, force=True)
    assert (out / "user/mine.c").is_file()
    assert not (out / "src/main.c").read_text().startswith("/* edited */")  # aotgen's own file, replaced
    firmware.build(out)
    assert (out / "build/user/mine.o").is_file()  # compiled (and dropped at link: nothing calls it)


def test_failure_leaves_no_half_written_folder(tmp_path):
    lib = make_tiny_mlf(tmp_path / "tiny")
    out = tmp_path / "out" / "p"
    # A context the template cannot render fails midway through writing files.
    with pytest.raises(AotgenError, match="template cmsis"):
        generate([lib], "mps2_an385", out, context_overrides={"_aotgen": {"board": {}}})
    assert not out.exists()
    assert list((tmp_path / "out").iterdir()) == []  # no staging folder left behind either


def test_project_errors(tmp_path):
    lib = make_tiny_mlf(tmp_path / "tiny")
    with pytest.raises(AotgenError, match="unknown template 'zephyr2'"):
        project.generate_project([lib], boards.load_board("mps2_an385"), "zephyr2", tmp_path / "a")
    with pytest.raises(AotgenError, match="would be written outside the project"):
        generate([lib], "mps2_an385", tmp_path / "d", extra_files={"../evil.c": ""})
    assert not (tmp_path / "d").exists() and not (tmp_path / "evil.c").exists()
    with pytest.raises(AotgenError, match="a project is a folder, not a tarball"):
        generate([lib], "mps2_an385", tmp_path / "p.tar")
    with pytest.raises(AotgenError, match="two models have the prefix 'tiny'"):
        generate([lib, lib], "mps2_an385", tmp_path / "b")
    (lib.root / "codegen/host/src/tiny_lib0.c").unlink()
    with pytest.raises(AotgenError, match="incomplete, codegen/host/src/tiny_lib0.c is missing"):
        generate([lib], "mps2_an385", tmp_path / "c")
    with pytest.raises(AotgenError, match="not an aotgen project"):
        firmware.build(tmp_path)


def test_board_without_the_template(tmp_path, monkeypatch):
    data = yaml.safe_load((boards.BUILTIN_BOARDS_DIR / "nucleo_f746zg.yaml").read_text())
    data.update(name="zephyr_only", templates={"zephyr": {"board": "nucleo_f746zg"}})
    (tmp_path / "zephyr_only.yaml").write_text(yaml.safe_dump(data))
    monkeypatch.setenv("AOTGEN_BOARDS_PATH", str(tmp_path))
    with pytest.raises(AotgenError, match="board zephyr_only does not support template 'cmsis'; it supports: zephyr"):
        generate([make_tiny_mlf(tmp_path / "tiny")], "zephyr_only", tmp_path / "p")


def _small_board(tmp_path, monkeypatch, name: str, flash: int) -> str:
    data = yaml.safe_load((boards.BUILTIN_BOARDS_DIR / "mps2_an385.yaml").read_text())
    data.update(name=name)
    data["memory"]["flash"]["size"] = flash
    (tmp_path / f"{name}.yaml").write_text(yaml.safe_dump(data))
    monkeypatch.setenv("AOTGEN_BOARDS_PATH", str(tmp_path))
    return name


def test_model_too_big_for_flash_says_by_how_much(cmsis_compiled, tmp_path, monkeypatch):
    lib = cmsis_compiled("kws", "cortex-m3")
    # Weights alone exceed the flash: the project is refused, nothing written.
    name = _small_board(tmp_path, monkeypatch, "tiny_flash", 16 * 1024)
    with pytest.raises(firmware.FitError) as e:
        generate([lib], name, tmp_path / "a")
    over = lib.constant_bytes - 16 * 1024
    assert e.value.over_bytes == over and f"({over} bytes over)" in str(e.value)
    assert not (tmp_path / "a").exists()
    # Weights fit but weights + code do not: the linker's overflow becomes the same error.
    name = _small_board(tmp_path, monkeypatch, "tight_flash", lib.constant_bytes + 512)
    with pytest.raises(firmware.FitError) as e:
        firmware.build(generate([lib], name, tmp_path / "b"))
    assert e.value.region == "FLASH" and e.value.over_bytes > 0
    assert f"FLASH overflowed by {e.value.over_bytes} bytes" in str(e.value)


def test_missing_toolchain_names_the_apt_package(tmp_path, monkeypatch):
    p = generate([make_tiny_mlf(tmp_path / "tiny")], "mps2_an385", tmp_path / "p")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "make").symlink_to(shutil.which("make"))
    monkeypatch.setenv("PATH", str(bin_dir))
    with pytest.raises(ToolNotFoundError) as e:
        firmware.build(p)
    assert e.value.tool == "arm-none-eabi-gcc" and "apt-get install gcc-arm-none-eabi" in str(e.value)


def test_build_timeout_stops_make(cmsis_compiled, tmp_path):
    p = generate([cmsis_compiled("kws", "cortex-m3")], "mps2_an385", tmp_path / "p")
    with pytest.raises(AotgenError, match="did not finish within 0.05 s"):
        firmware.build(p, timeout=0.05)
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, timeout=10).stdout
    assert str(p) not in ps and "kws_lib" not in ps


def test_missing_qemu_names_the_apt_package(tmp_path, monkeypatch):
    elf = tmp_path / "firmware.elf"
    elf.write_bytes(b"\x7fELF")
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ToolNotFoundError, match="apt-get install qemu-system-arm"):
        qemu.run(boards.load_board("mps2_an385"), elf)
    with pytest.raises(AotgenError, match="no such firmware file"):
        qemu.run(boards.load_board("mps2_an385"), tmp_path / "missing.elf")


@pytest.mark.skipif(shutil.which("qemu-system-arm") is None, reason="needs qemu-system-arm")
def test_qemu_timeout_kills_qemu(tmp_path):
    board = boards.load_board("mps2_an385")
    p = generate([make_tiny_mlf(tmp_path / "tiny")], board.name, tmp_path / "p")
    # A model that never returns (the harness firmware never exits anyway): QEMU is killed.
    (p / "models/tiny/codegen/host/src/tiny_lib0.c").write_text(
        '#include "tiny.h"\nint32_t tiny_run(struct tiny_inputs* i, struct tiny_outputs* o) { for (;;) { } }\n')
    elf = firmware.build(p).elf
    with pytest.raises(qemu.QemuTimeout, match="did not exit within 2 s") as e:
        qemu.run(board, elf, timeout=2)
    assert "tiny" in e.value.output  # the harness's READY banner names the model
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, timeout=10).stdout
    assert str(elf) not in ps


@pytest.mark.skipif(shutil.which("qemu-system-arm") is None, reason="needs qemu-system-arm")
def test_prebuilt_objects_are_linked(tmp_path):
    """A library that ships its kernels as an object file ("objects" in metadata.json) links."""
    board = boards.load_board("mps2_an386")
    lib = make_tiny_mlf(tmp_path / "tiny")
    src = lib.root / "codegen/host/src/tiny_lib0.c"
    obj = lib.root / "codegen/host/obj/tiny_lib0.o"
    obj.parent.mkdir()
    subprocess.run(["arm-none-eabi-gcc", *board.gcc_flags, "-O2", "-I", str(lib.include_dir), "-c", str(src),
                    "-o", str(obj)], check=True, timeout=60)
    src.unlink()
    lib.metadata.update(sources=[], objects=["codegen/host/obj/tiny_lib0.o"])
    (lib.root / "metadata.json").write_text(json.dumps(lib.metadata))
    lib = mlf.load(lib.root)
    p = generate([lib], board.name, tmp_path / "p")
    assert (p / "models/tiny/codegen/host/obj/tiny_lib0.o").is_file()
    assert not (p / "models/tiny/codegen/host/src/tiny_lib0.c").exists()
    runs = run_embedded(board, firmware.build(p).elf, p)
    x = project.load_project(p).test_input("tiny", "x").reshape(-1).astype(np.float32)
    v = np.sign(x * np.tile([1.5, -0.5, 2.25, 0.75], 2)) * np.floor(np.abs(x * np.tile([1.5, -0.5, 2.25, 0.75], 2)) + 0.5)
    expected = np.clip(v + 3, -128, 127).astype(np.int8)  # roundf: half away from zero
    assert np.array_equal(runs["tiny"].outputs["y"], expected)


def test_project_contents_and_readme(tmp_path):
    lib = make_tiny_mlf(tmp_path / "tiny")
    p = generate([lib], "nucleo_f746zg", tmp_path / "p")
    info = project.load_project(p)
    assert info.data["board"]["flash_bytes"] == 1024 * 1024 and info.template == "cmsis"
    x = info.test_input("tiny", "x")
    assert x.dtype == np.int8 and x.shape == (1, 8)
    assert np.array_equal(x, np.random.default_rng(0).integers(-128, 127, size=(1, 8), endpoint=True, dtype=np.int8))
    readme = (p / "README.md").read_text()
    assert "st-flash --reset write build/firmware.bin 0x08000000" in readme
    assert "openocd -f board/st_nucleo_f7.cfg" in readme
    for f in ("src/platform.h", "src/platform.c", "src/uart.c", "src/startup.c", "src/main.c", "linker.ld",
              "src/aotgen_harness.c", "src/aotgen_harness.h", "src/aotgen_models.c",
              "Makefile", "models/tiny/codegen/host/include/tiny.h", "models/tiny/codegen/host/src/tiny_lib0.c", "models/tiny/metadata.json"):
        assert (p / f).is_file(), f
    uart = (p / "src/uart.c").read_text()
    assert "RCC_APB1ENR.USART3EN" in uart and "0x40004800" in (p / "src/board.h").read_text()
    assert "DTCM (rwx) : ORIGIN = 0x20000000, LENGTH = 65536" in (p / "linker.ld").read_text()


def test_arena_too_big_for_dtcm_goes_to_ram(tmp_path):
    """On the F746 an arena that does not fit the 64 KiB DTCM goes to SRAM1; the stack takes the DTCM."""
    board = boards.load_board("nucleo_f746zg")
    lib = make_tiny_mlf(tmp_path / "tiny")
    (lib.include_dir / "tiny.h").write_text((lib.include_dir / "tiny.h").read_text() + "extern char tiny_big[70000];\n")
    src = lib.root / "codegen/host/src/tiny_lib0.c"
    src.write_text(src.read_text().replace("static float arena", "char tiny_big[70000];\nstatic float arena")
                   .replace("return 0;", "tiny_big[in->x[0] & 0xff] = 1;\n  return 0;"))
    lib.metadata["workspace_bytes"] = 70000
    p = generate([lib], board.name, tmp_path / "p")
    result = firmware.build(p)
    bss_addr, bss_size = result.sections[".bss"]
    stack_addr, _ = result.sections[".stack"]
    assert ".dtcm_bss" not in result.sections
    assert bss_addr >= board.dtcm.end and bss_size >= 70000
    assert board.dtcm.origin <= stack_addr < board.dtcm.end


def test_cli_project_and_build(tmp_path):
    from click.testing import CliRunner

    from aotgen.cli import cli

    runner = CliRunner()
    out = tmp_path / "p"
    res = runner.invoke(cli, ["project", str(MODELS["hello"]), "--board", "mps2_an386", "-o", str(out),
                              "--prefix", "hw", "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output) == {"project": str(out), "board": "mps2_an386", "template": "cmsis", "models": ["hw"],
                                      "app": {"name": "harness"}}
    res = runner.invoke(cli, ["project", str(MODELS["hello"]), "--board", "mps2_an386", "-o", str(out)])
    assert isinstance(res.exception, AotgenError) and "use --force" in str(res.exception)
    res = runner.invoke(cli, ["project", str(MODELS["hello"]), "--board", "mps2_an386", "-o", str(out),
                              "--prefix", "hw", "--force"])
    assert res.exit_code == 0, res.output
    res = runner.invoke(cli, ["build", str(out), "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output[res.output.index("{"):])
    assert data["board"] == "mps2_an386" and 0 < data["flash_used"] <= data["flash_limit"]
    res = runner.invoke(cli, ["project", str(MODELS["hello"]), str(MODELS["kws"]), "-b", "mps2_an386",
                              "-o", str(tmp_path / "two"), "--prefix", "x"])
    assert isinstance(res.exception, AotgenError) and "--prefix applies to a single model" in str(res.exception)
    res = runner.invoke(cli, ["project", str(MODELS["hello"]), str(out / "models" / "hw"), "-b", "mps2_an386",
                              "-o", str(tmp_path / "two"), "--json"])  # a model file and an MLF folder
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["models"] == ["hello_world_int8", "hw"]
    res = runner.invoke(cli, ["boards", "--json"])
    listed = {b["name"]: b for b in json.loads(res.output)["boards"]}
    assert set(listed) >= set(ALL_BOARDS)
    assert listed["mps2_an500"]["qemu_runnable"] and not listed["nucleo_f746zg"]["qemu_runnable"]
    res = runner.invoke(cli, ["boards"])
    assert res.exit_code == 0 and all(name in res.output for name in ("mps2_an385", "netduinoplus2", "cortex-m55"))
