"""Firmware in QEMU with its console UART on a TCP socket, reached through pyserial (socket://).

QEMU listens (`server=on,wait=on`: the guest starts only once we are connected, so the READY
banner is never lost) with `nodelay=on` (without it small frames crawl at ~2.4 KB/s). The board
file's machine options, `-icount shift=0` and semihosting come from aotgen.qemu.command_line.
QEMU is always killed on the way out, also on errors and Ctrl-C.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

from ..firmware.boards import Board
from ..errors import AotgenError, DeviceFailure, ToolNotFoundError
from ..firmware import qemu
from .emulated import EmulatedSerial, die_with_parent
from .transport import Transport, open_transport

START_TIMEOUT_S = 15.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class QemuSerial(EmulatedSerial):
    """`with QemuSerial(board, elf) as q:` q.transport is connected to the firmware's console."""

    def __init__(self, board: Board, elf: str | Path, start_timeout: float = START_TIMEOUT_S, uart_index: int = 0,
                 qemu_args: Sequence[str] = ()):
        """uart_index: which of the machine's UARTs is the console (e.g. 1 for a NUCLEO-F401RE
        build, whose USART2 is the second UART of QEMU's STM32F405); qemu_args: more QEMU options."""
        super().__init__(board, elf, start_timeout)
        self.uart_index = uart_index
        self.qemu_args = tuple(qemu_args)

    def start(self) -> Transport:
        self.check_elf()
        if shutil.which(qemu.QEMU) is None:
            raise ToolNotFoundError(qemu.QEMU, qemu.QEMU_APT_PACKAGE)
        port = free_port()
        serial = ["null"] * self.uart_index + [f"tcp:127.0.0.1:{port},server=on,wait=on,nodelay=on"]
        argv = qemu.command_line(self.board, self.elf, serial=serial, extra=self.qemu_args)
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=self.new_stderr(), start_new_session=True, preexec_fn=die_with_parent)
        deadline = time.monotonic() + self.start_timeout
        while True:
            if self.proc.poll() is not None:
                raise DeviceFailure(f"{qemu.QEMU} exited with {self.proc.returncode} before the firmware started"
                                  f"{self.stderr_tail()}")
            try:
                # The first connection QEMU accepts is the serial line: no probing connects.
                self.transport = open_transport(f"socket://127.0.0.1:{port}")
                return self.transport
            except AotgenError:
                if time.monotonic() > deadline:
                    raise DeviceFailure(f"{qemu.QEMU} did not open its serial port within "
                                      f"{self.start_timeout:g} s{self.stderr_tail()}") from None
                time.sleep(0.05)

    def crashed(self, wait: float = 1.0) -> str | None:
        """A description if QEMU has exited (the firmware exited or QEMU failed), else None.
        Waits up to `wait` s."""
        code = self.exited(wait)
        return None if code is None else f"QEMU exited with code {code}{self.stderr_tail()}"

    def stderr_tail(self, lines: int = 12) -> str:
        """QEMU's own messages ("qemu: fatal: ...") and the last `lines` lines of its stderr."""
        text = [ln for ln in self.stderr_lines()
                if "QEMU waiting for connection" not in ln]  # our own -serial server=on notice
        if len(text) > lines:
            head = [ln for ln in text[:-lines] if ln.startswith("qemu")][:3]
            text = head + ["..."] + text[-lines:]
        return (":\n" + "\n".join(text)) if text else ""

    def stop(self) -> None:
        self.close_transport()
        self.kill()
