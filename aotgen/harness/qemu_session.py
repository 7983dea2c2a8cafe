"""Firmware in QEMU with its console UART on a TCP socket, reached through pyserial (socket://).

QEMU listens (`server=on,wait=on`: the guest starts only once we are connected, so the READY
banner is never lost) with `nodelay=on` (without it small frames crawl at ~2.4 KB/s). The board
file's machine options, `-icount shift=0` and semihosting come from aotgen.qemu.command_line.
QEMU is always killed on the way out, also on errors and Ctrl-C.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ..boards import Board
from ..errors import AotgenError, ToolNotFoundError
from .. import qemu
from .transport import Transport, open_transport

START_TIMEOUT_S = 15.0


def _die_with_parent() -> None:
    """In the QEMU child (Linux): be killed if aotgen itself is killed (SIGKILL, a CI timeout),
    which no `finally` can handle; else QEMU would spin on forever."""
    if sys.platform.startswith("linux"):
        import ctypes

        PR_SET_PDEATHSIG = 1
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class QemuSerial:
    """`with QemuSerial(board, elf) as q:` q.transport is connected to the firmware's console."""

    def __init__(self, board: Board, elf: str | Path, start_timeout: float = START_TIMEOUT_S, uart_index: int = 0):
        """uart_index: which of the machine's UARTs is the console (e.g. 1 for a NUCLEO-F401RE
        build, whose USART2 is the second UART of QEMU's STM32F405)."""
        self.board = board
        self.uart_index = uart_index
        self.elf = Path(elf)
        self.start_timeout = start_timeout
        self.proc: subprocess.Popen | None = None
        self.transport: Transport | None = None
        self._stderr = None

    def __enter__(self) -> "QemuSerial":
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> Transport:
        if not self.elf.is_file():
            raise AotgenError(f"{self.elf}: no such firmware file; build it first (`aotgen build`)")
        if shutil.which(qemu.QEMU) is None:
            raise ToolNotFoundError(qemu.QEMU, qemu.QEMU_APT_PACKAGE)
        port = free_port()
        serial = ["null"] * self.uart_index + [f"tcp:127.0.0.1:{port},server=on,wait=on,nodelay=on"]
        argv = qemu.command_line(self.board, self.elf, serial=serial)
        # stderr to a file, not a pipe: nobody reads it until QEMU is gone, and a full pipe would
        # stall QEMU.
        self._stderr = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=self._stderr, start_new_session=True, preexec_fn=_die_with_parent)
        deadline = time.monotonic() + self.start_timeout
        while True:
            if self.proc.poll() is not None:
                raise AotgenError(f"{qemu.QEMU} exited with {self.proc.returncode} before the firmware started"
                                  f"{self.stderr_tail()}")
            try:
                # The first connection QEMU accepts is the serial line: no probing connects.
                self.transport = open_transport(f"socket://127.0.0.1:{port}")
                return self.transport
            except AotgenError:
                if time.monotonic() > deadline:
                    raise AotgenError(f"{qemu.QEMU} did not open its serial port within "
                                      f"{self.start_timeout:g} s{self.stderr_tail()}") from None
                time.sleep(0.05)

    def crashed(self, wait: float = 1.0) -> str | None:
        """A description if QEMU has exited (the firmware exited or QEMU failed), else None.
        Waits up to `wait` s: a lost connection is usually QEMU on its way out."""
        if self.proc is None:
            return None
        try:
            self.proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            return None
        return f"QEMU exited with code {self.proc.returncode}{self.stderr_tail()}"

    def stderr_tail(self, lines: int = 12) -> str:
        """QEMU's own messages ("qemu: fatal: ...") and the last `lines` lines of its stderr."""
        if self._stderr is None:
            return ""
        self._stderr.seek(0)
        text = [ln for ln in self._stderr.read().decode(errors="replace").strip().splitlines()
                if "QEMU waiting for connection" not in ln]  # our own -serial server=on notice
        if len(text) > lines:
            head = [ln for ln in text[:-lines] if ln.startswith("qemu")][:3]
            text = head + ["..."] + text[-lines:]
        return (":\n" + "\n".join(text)) if text else ""

    def stop(self) -> None:
        if self.transport is not None:
            self.transport.close()
            self.transport = None
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if self.proc is not None:
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
