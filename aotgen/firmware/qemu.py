"""Run firmware for QEMU boards: build the command line from the board file, run with a timeout.

The command-line builder is separate from the runner so other runners (e.g. a serial-socket
harness) can reuse it with a different `serial` argument.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .boards import Board
from ..errors import AotgenError, DeviceFailure, ToolNotFoundError
from ..toolchain import kill_group

QEMU = "qemu-system-arm"
QEMU_APT_PACKAGE = "qemu-system-arm"


def command_line(board: Board, elf: Path, serial: str | Sequence[str] = "stdio", icount: bool = True,
                 extra: Sequence[str] = ()) -> list[str]:
    """argv for running `elf` on `board`. serial: a QEMU -serial backend (stdio, tcp:..., pty), or
    one per UART in the machine's order (e.g. ["null", "stdio"] for the second UART).

    -icount shift=0 makes virtual time advance 1 ns per instruction, so the firmware's SysTick
    counts instructions deterministically; semihosting lets the firmware exit with a code.
    `extra`: more QEMU options (e.g. a -plugin).
    """
    if board.qemu is None:
        raise AotgenError(f"board {board.name} does not run in QEMU" +
                          (f"; its QEMU twin is {board.qemu_twin}" if board.qemu_twin else ""))
    argv = [QEMU, "-machine", board.qemu.machine]
    if board.qemu.cpu:
        argv += ["-cpu", board.qemu.cpu]
    argv += ["-nographic", "-monitor", "none", "-semihosting-config", "enable=on,target=native"]
    for backend in [serial] if isinstance(serial, str) else serial:
        argv += ["-serial", backend]
    if icount:
        argv += ["-icount", "shift=0"]
    argv += [*board.qemu.extra_args, *extra, "-kernel", str(elf)]
    return argv


@dataclass
class QemuResult:
    output: str  # everything the firmware wrote to the console UART
    exit_code: int


class QemuTimeout(DeviceFailure):
    def __init__(self, board: str, timeout: float, output: str):
        tail = output[-2000:]
        super().__init__(f"firmware on {board} did not exit within {timeout:g} s; console output so far:\n{tail}")
        self.output = output


def run(board: Board, elf: str | Path, timeout: float = 60.0) -> QemuResult:
    """Run `elf` in QEMU until it exits (semihosting) or `timeout` seconds pass; QEMU is always
    killed on the way out."""
    elf = Path(elf)
    if not elf.is_file():
        raise AotgenError(f"{elf}: no such firmware file; build it first")
    if shutil.which(QEMU) is None:
        raise ToolNotFoundError(QEMU, QEMU_APT_PACKAGE)
    proc = subprocess.Popen(
        command_line(board, elf),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,  # own process group, so the kill below reaches everything
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_group(proc)
        out, _ = proc.communicate()
        raise QemuTimeout(board.name, timeout, out.decode(errors="replace")) from None
    finally:
        kill_group(proc)
    text = out.decode(errors="replace")
    if proc.returncode != 0 and not text and err:
        # QEMU itself failed (bad machine, unloadable ELF): its message is on stderr.
        raise AotgenError(f"{QEMU} failed on {board.name}: {err.decode(errors='replace').strip()}")
    return QemuResult(output=text, exit_code=proc.returncode)
