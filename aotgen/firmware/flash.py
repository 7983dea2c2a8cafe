"""`aotgen flash`: write a built project's firmware to a real board with the board file's flasher."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from .boards import FlashMethod
from ..errors import AotgenError, ToolNotFoundError
from .project_info import load_project
from ..toolchain import APT_PACKAGES, run

FLASH_TIMEOUT_S = 300.0
# Flashers that do not come from Debian.
PIP_PACKAGES = {"pyocd": "pyocd"}


@dataclass
class FlashResult:
    tool: str
    argv: list[str]
    output: str


def _argv(method: FlashMethod, elf: Path, port: str | None) -> list[str]:
    paths = {"elf": elf, "bin": elf.with_suffix(".bin"), "hex": elf.with_suffix(".hex"), "port": port or ""}
    if port is None and any("{port}" in a for a in method.command):
        raise AotgenError(f"{method.tool} needs the board's serial port: give it with --port")
    return [a.format(**paths) for a in method.command]


def _missing(tool: str) -> AotgenError:
    if tool in PIP_PACKAGES:
        return AotgenError(f"'{tool}' not found on PATH: install it with `pip install {PIP_PACKAGES[tool]}`")
    return ToolNotFoundError(tool, APT_PACKAGES.get(tool, tool))


def flash(project_dir: str | Path, port: str | None = None, tool: str | None = None,
          timeout: float = FLASH_TIMEOUT_S) -> FlashResult:
    """Flash with `tool`, or the first of the board file's flashers that is installed."""
    project = load_project(project_dir)
    board = project.board()
    if project.build_system == "west":  # Zephyr projects flash with the board's runner
        from .zephyr import flash_argv

        if not project.elf.is_file():
            raise AotgenError(f"{project.elf}: no firmware yet; build it with `aotgen build {project.root}`")
        argv = flash_argv(project)
        proc = run(argv, timeout, cwd=project.root, what=f"west flash ({board.name})")
        return FlashResult("west", argv, (proc.stdout + proc.stderr).decode(errors="replace"))
    if project.build_system == "arduino" and (tool == "arduino-cli" or not board.flash_methods):
        from .arduino import upload_argv

        if not project.elf.is_file():
            raise AotgenError(f"{project.elf}: no firmware yet; build it with `aotgen build {project.root}`")
        argv = upload_argv(project, port)
        proc = run(argv, timeout, cwd=project.root, what=f"arduino-cli upload ({board.name})")
        return FlashResult("arduino-cli", argv, (proc.stdout + proc.stderr).decode(errors="replace"))
    if board.qemu_runnable and not board.flash_methods:
        raise AotgenError(f"board {board.name} runs in QEMU, there is nothing to flash: `aotgen test {project.root}` "
                          "starts it")
    if not board.flash_methods:
        raise AotgenError(f"board {board.name} lists no flasher in its board file ({board.source})")
    elf = project.elf
    if not elf.is_file():
        raise AotgenError(f"{elf}: no firmware yet; build it with `aotgen build {project.root}`")
    methods = list(board.flash_methods)
    if tool is not None:
        methods = [m for m in methods if m.tool == tool]
        if not methods:
            raise AotgenError(f"board {board.name} has no flasher '{tool}'; it lists: "
                              f"{', '.join(m.tool for m in board.flash_methods)}")
    installed = [m for m in methods if shutil.which(m.command[0])]
    if not installed:
        raise _missing(methods[0].command[0])
    method = installed[0]
    argv = _argv(method, elf, port)
    proc = run(argv, timeout, cwd=project.root, what=f"{method.tool} (flashing {board.name})")
    out = (proc.stdout + proc.stderr).decode(errors="replace")
    return FlashResult(method.tool, argv, out)
