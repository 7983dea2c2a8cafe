"""Build a generated project's firmware with make + arm-none-eabi-gcc and check that it fits.

Fit is checked twice: before compiling (the models' weights and arenas alone against the board's
flash and RAM, which catches a hopeless case early) and after linking (the ELF's sections against
the same limits; the linker's own "region overflowed" message is turned into the same error).
"""

from __future__ import annotations

import os
import re
import subprocess
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .. import toolchain
from ..errors import AotgenError, ToolFailedError, ToolNotFoundError
from .fit import FitError, check_fit_before_link, check_region, ram_estimate
from .project_info import ProjectInfo, load_project
from ..toolchain import kill_group

GCC = "arm-none-eabi-gcc"
SIZE = "arm-none-eabi-size"
AVR_SIZE = "avr-size"
NEWLIB_APT = "libnewlib-arm-none-eabi"
DEFAULT_TIMEOUT = 600.0
_OVERFLOW_RE = re.compile(r"region `(\w+)' overflowed by (\d+) bytes")


@dataclass
class BuildResult:
    elf: Path
    flash_used: int
    ram_used: int
    flash_limit: int
    ram_limit: int
    sections: dict[str, tuple[int, int]]  # name -> (address, size)

    def to_json(self) -> dict:
        return {"elf": str(self.elf), "flash_used": self.flash_used, "flash_limit": self.flash_limit,
                "ram_used": self.ram_used, "ram_limit": self.ram_limit}


def check_toolchain() -> None:
    for tool in ("make", GCC, SIZE):
        toolchain.require(tool)


def build(
    project_dir: str | Path,
    timeout: float = DEFAULT_TIMEOUT,
    jobs: int | None = None,
    on_line: Callable[[str], None] | None = None,
) -> BuildResult:
    """Run `make` in the project; on_line gets each line of build output as it appears."""
    project = load_project(project_dir)
    check_fit_before_link(project)
    if project.build_system == "arduino":
        from .arduino import build_argv

        _run_make(project.root, build_argv(project), timeout, on_line)
        toolchain.require(AVR_SIZE if project.board().is_avr else SIZE)
    elif project.build_system == "west":
        from .zephyr import build_argv, build_env

        _run_make(project.root, build_argv(project), timeout, on_line, env=build_env())
        toolchain.require(SIZE)
    else:
        check_toolchain()
        jobs = jobs or os.cpu_count() or 1
        _run_make(project.root, ["make", f"-j{jobs}", "all"], timeout, on_line)
    if not project.elf.is_file():
        raise AotgenError(f"the build finished but {project.elf} is missing")
    result = _sizes(project)
    check_region("FLASH", "the firmware", result.flash_used, result.flash_limit, project.board_name)
    check_region("RAM", "the firmware", result.ram_used, result.ram_limit, project.board_name)
    if project.build_system == "arduino":
        # The Arduino runtime's stack is not in the ELF's sections: keep the reserve free.
        stack = ram_estimate(project)["stack"]
        check_region("RAM", f"the firmware's data + bss ({result.ram_used}) and the stack reserve ({stack})",
               result.ram_used + stack, result.ram_limit, project.board_name)
    if project.board().is_avr:
        _check_avr_flash_data(project)
    return result


def _check_avr_flash_data(project: ProjectInfo) -> None:
    """`__flash` weights (.progmem, between the vectors and the constructors) must end below
    64 KiB, or LPM reads wrap around silently."""
    out = subprocess.run(["avr-nm", str(project.elf)], capture_output=True, text=True, timeout=60).stdout
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[2] == "__ctors_start":
            end = int(parts[0], 16)
            check_region("FLASH", "the __flash data (weights) ending", end, 0x10000, project.board_name)


def _run_make(cwd: Path, argv: list[str], timeout: float, on_line: Callable[[str], None] | None,
              env: dict[str, str] | None = None) -> None:
    """Run the project's build command (make, arduino-cli/-builder, west), streaming its output."""
    proc = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, text=True, start_new_session=True, env=env)
    lines: list[str] = []
    timed_out = threading.Event()

    def on_timeout() -> None:
        timed_out.set()
        kill_group(proc, wait_s=None)  # the main thread is reading the pipe; it reaps

    # Reading blocks on the pipe, so a timer enforces the deadline by killing the process group.
    timer = threading.Timer(timeout, on_timeout)
    timer.start()
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line.rstrip("\n"))
            if on_line:
                on_line(lines[-1])
        proc.wait(timeout=30)
    finally:
        timer.cancel()
        kill_group(proc)
    if timed_out.is_set():
        raise ToolFailedError(f"build in {cwd} did not finish within {timeout:g} s")
    if proc.returncode != 0:
        _raise_build_error(cwd, lines)


def _raise_build_error(cwd: Path, lines: list[str]) -> None:
    text = "\n".join(lines)
    overflows = [(m.group(1), int(m.group(2))) for m in _OVERFLOW_RE.finditer(text)]
    if overflows:
        project = load_project(cwd)
        detail = ", ".join(f"{region} overflowed by {n} bytes" for region, n in overflows)
        region, over = max(overflows, key=lambda o: o[1])
        raise FitError(f"does not fit on {project.board_name}: {detail}", region, over)
    if "nano.specs" in text and ("No such file" in text or "cannot read spec" in text):
        raise ToolNotFoundError("newlib-nano (nano.specs)", NEWLIB_APT)
    if "cannot find -lc" in text or "cannot find -lm" in text:
        raise ToolNotFoundError("newlib (libc.a)", NEWLIB_APT)
    errors = [ln for ln in lines if "error" in ln.lower()] or lines
    tail = "\n".join(errors[-15:])
    raise ToolFailedError(f"build failed in {cwd}:\n{tail}")


def _size(elf: Path, fmt: str, tool: str = SIZE) -> str:
    try:
        return subprocess.run([tool, fmt, str(elf)], capture_output=True, text=True, timeout=60, check=True).stdout
    except subprocess.CalledProcessError as e:
        raise ToolFailedError(f"{SIZE} failed on {elf}: {e.stderr.strip()}") from None
    except subprocess.TimeoutExpired:
        raise ToolFailedError(f"{SIZE} did not finish within 60 s on {elf}") from None


def _sizes(project: ProjectInfo) -> BuildResult:
    """Flash = text + data (code, weights, .data's initial values); RAM = data + bss (arenas,
    buffers, stack), from arm-none-eabi-size's Berkeley totals of the allocated sections."""
    elf = project.elf
    tool = AVR_SIZE if project.board().is_avr else SIZE
    berkeley = _size(elf, "-B", tool).splitlines()[1].split()
    text, data, bss = (int(v) for v in berkeley[:3])
    sections: dict[str, tuple[int, int]] = {}
    for line in _size(elf, "-A", tool).splitlines()[2:]:
        parts = line.split()
        if len(parts) == 3 and parts[1].isdigit() and not parts[0].startswith(_NON_ALLOC_PREFIXES):
            sections[parts[0]] = (int(parts[2]), int(parts[1]))
    return BuildResult(elf=elf, flash_used=text + data, ram_used=data + bss, flash_limit=project.flash_limit,
                       ram_limit=project.ram_limit, sections=sections)


# Sections arm-none-eabi-size -A lists that are not loaded on the target (debug info, notes).
_NON_ALLOC_PREFIXES = (".debug", ".comment", ".ARM.attributes", ".note", "Total")


def model_code_bytes(elf: Path, prefix: str) -> int:
    """Bytes of code the linker kept for one model: its functions (kernels, helpers, runner), all
    named under its prefix; weights excluded (they are data symbols)."""
    # readelf, not nm: the CMSIS template links .rodata into the .text output section, so only the
    # symbol type (FUNC vs OBJECT) tells code from weights.
    try:
        out = subprocess.run(["arm-none-eabi-readelf", "-sW", str(elf)], capture_output=True, text=True,
                             timeout=60, check=True).stdout
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as e:
        raise ToolFailedError(f"arm-none-eabi-readelf failed on {elf}: {e}") from None
    total = 0
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 8 and parts[3] == "FUNC" and parts[7].startswith(f"{prefix}_"):
            total += int(parts[2], 0)
    return total
