"""What a serial session with an emulated board (QEMU, simavr) shares: a child process that dies
with aotgen, its stderr in a file, and a context manager that always stops it."""

from __future__ import annotations

import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from ..firmware.boards import Board
from ..errors import AotgenError
from ..toolchain import kill_group
from .transport import Transport


def die_with_parent() -> None:
    """In the emulator child (Linux): be killed if aotgen itself is killed (SIGKILL, a CI
    timeout), which no `finally` can handle; else the emulator would spin on forever."""
    if sys.platform.startswith("linux"):
        import ctypes

        PR_SET_PDEATHSIG = 1
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


class EmulatedSerial:
    """Base of `with XSerial(board, elf) as x:` sessions; subclasses implement start() (which
    launches `self.proc` with `stderr=self.new_stderr()` and connects `self.transport`), stop()
    and crashed()."""

    def __init__(self, board: Board, elf: str | Path, start_timeout: float):
        self.board = board
        self.elf = Path(elf)
        self.start_timeout = start_timeout
        self.proc: subprocess.Popen | None = None
        self.transport: Transport | None = None
        self._stderr = None

    def __enter__(self):
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> Transport:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def check_elf(self) -> None:
        if not self.elf.is_file():
            raise AotgenError(f"{self.elf}: no such firmware file; build it first (`aotgen build`)")

    def new_stderr(self):
        """A file for the child's stderr: nobody reads it until the child is gone, and a full pipe
        would stall it."""
        self._stderr = tempfile.TemporaryFile()
        return self._stderr

    def stderr_lines(self) -> list[str]:
        if self._stderr is None:
            return []
        self._stderr.seek(0)
        return self._stderr.read().decode(errors="replace").strip().splitlines()

    def close_transport(self) -> None:
        if self.transport is not None:
            self.transport.close()
            self.transport = None

    def exited(self, wait: float) -> int | None:
        """The child's exit code if it has ended within `wait` s (a lost connection is usually
        the emulator on its way out), else None."""
        if self.proc is None:
            return None
        try:
            return self.proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            return None

    def kill(self) -> None:
        """SIGKILL the child's process group (it runs in its own session), then reap it."""
        if self.proc is not None:
            kill_group(self.proc)
