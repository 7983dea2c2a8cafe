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

from . import toolchain
from .errors import AotgenError, ToolNotFoundError
from .project import ProjectInfo, load_project

GCC = "arm-none-eabi-gcc"
SIZE = "arm-none-eabi-size"
NEWLIB_APT = "libnewlib-arm-none-eabi"
DEFAULT_TIMEOUT = 600.0
_OVERFLOW_RE = re.compile(r"region `(\w+)' overflowed by (\d+) bytes")


class FitError(AotgenError):
    """The firmware does not fit the board; the message names the region and the bytes over."""

    def __init__(self, message: str, region: str, over_bytes: int):
        super().__init__(message)
        self.region = region
        self.over_bytes = over_bytes


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


def check_fit_before_link(project: ProjectInfo) -> None:
    """The models alone must fit: weights in flash, arenas in RAM."""
    board = project.board_name
    weights = sum(m["constant_bytes"] for m in project.data["models"])
    static = sum(m["workspace_bytes"] for m in project.data["models"] if m["workspace"] != "user")
    user = max((m["workspace_bytes"] for m in project.data["models"] if m["workspace"] == "user"), default=0)
    _check("FLASH", "the model weights", weights, project.flash_limit, board)
    _check("RAM", "the model arenas", static + user, project.ram_limit, board)


def _check(region: str, what: str, used: int, limit: int, board: str) -> None:
    if used > limit:
        raise FitError(
            f"does not fit on {board}: {what} need {used} bytes of {region.lower()}, the board has "
            f"{limit} ({used - limit} bytes over)",
            region, used - limit,
        )


def build(
    project_dir: str | Path,
    timeout: float = DEFAULT_TIMEOUT,
    jobs: int | None = None,
    on_line: Callable[[str], None] | None = None,
) -> BuildResult:
    """Run `make` in the project; on_line gets each line of build output as it appears."""
    project = load_project(project_dir)
    check_toolchain()
    check_fit_before_link(project)
    jobs = jobs or os.cpu_count() or 1
    _run_make(project.root, ["make", f"-j{jobs}", "all"], timeout, on_line)
    result = _sizes(project)
    _check("FLASH", "the firmware", result.flash_used, result.flash_limit, project.board_name)
    _check("RAM", "the firmware", result.ram_used, result.ram_limit, project.board_name)
    return result


def _run_make(cwd: Path, argv: list[str], timeout: float, on_line: Callable[[str], None] | None) -> None:
    proc = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, text=True, start_new_session=True)
    lines: list[str] = []
    timed_out = threading.Event()

    def on_timeout() -> None:
        timed_out.set()
        _killpg(proc)

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
        _killpg(proc)
    if timed_out.is_set():
        raise AotgenError(f"build in {cwd} did not finish within {timeout:g} s")
    if proc.returncode != 0:
        _raise_build_error(cwd, lines)


def _killpg(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, 9)
        except ProcessLookupError:
            pass


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
    raise AotgenError(f"build failed in {cwd}:\n{tail}")


def _size(elf: Path, fmt: str) -> str:
    try:
        return subprocess.run([SIZE, fmt, str(elf)], capture_output=True, text=True, timeout=60, check=True).stdout
    except subprocess.CalledProcessError as e:
        raise AotgenError(f"{SIZE} failed on {elf}: {e.stderr.strip()}") from None
    except subprocess.TimeoutExpired:
        raise AotgenError(f"{SIZE} did not finish within 60 s on {elf}") from None


def _sizes(project: ProjectInfo) -> BuildResult:
    """Flash = text + data (code, weights, .data's initial values); RAM = data + bss (arenas,
    buffers, stack), from arm-none-eabi-size's Berkeley totals of the allocated sections."""
    elf = project.elf
    berkeley = _size(elf, "-B").splitlines()[1].split()
    text, data, bss = (int(v) for v in berkeley[:3])
    sections: dict[str, tuple[int, int]] = {}
    for line in _size(elf, "-A").splitlines()[2:]:
        parts = line.split()
        if len(parts) == 3 and parts[1].isdigit() and not parts[0].startswith(_NON_ALLOC_PREFIXES):
            sections[parts[0]] = (int(parts[2]), int(parts[1]))
    return BuildResult(elf=elf, flash_used=text + data, ram_used=data + bss, flash_limit=project.flash_limit,
                       ram_limit=project.ram_limit, sections=sections)


# Sections arm-none-eabi-size -A lists that are not loaded on the target (debug info, notes).
_NON_ALLOC_PREFIXES = (".debug", ".comment", ".ARM.attributes", ".note", "Total")
