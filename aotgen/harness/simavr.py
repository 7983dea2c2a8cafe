"""AVR firmware in simavr with UART0 on a pseudo-terminal, reached through pyserial.

The bridge (simavr_bridge.c, a small program on libsimavr shipped as source) is compiled on first
use into the user's cache folder. It loads the ELF, prints the pty's path, feeds host bytes into
the simulated UART while the UART signals XON, and on exit prints the exact number of simulated
cycles. Like QEMU it is always stopped on the way out (also on errors and Ctrl-C) and dies with
aotgen (parent-death signal).
"""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import time
from pathlib import Path

from ..firmware.boards import Board
from ..errors import AotgenError, DeviceFailure
from .emulated import EmulatedSerial, die_with_parent
from .hosttool import build_host_tool
from .transport import Transport, open_transport

BRIDGE_SOURCE = Path(__file__).resolve().parent / "simavr_bridge.c"
SIMAVR_INCLUDE = Path("/usr/include/simavr")
SIMAVR_APT = "libsimavr-dev"
START_TIMEOUT_S = 10.0
# What the counts are: exact AVR core cycles, as simulated.
UNIT = "cycles (simavr)"


def bridge_path() -> Path:
    """The compiled bridge, built now if missing."""
    if not (SIMAVR_INCLUDE / "sim_avr.h").is_file():
        raise AotgenError(f"the simavr bridge needs simavr's headers and library ({SIMAVR_INCLUDE}/sim_avr.h is "
                          f"missing): install the Debian package {SIMAVR_APT}")
    return build_host_tool(BRIDGE_SOURCE, "simavr_bridge", [f"-I{SIMAVR_INCLUDE}", "-lsimavr", "-lutil"],
                           "the simavr bridge", SIMAVR_APT)


class SimavrSerial(EmulatedSerial):
    """`with SimavrSerial(board, elf) as s:` s.transport is connected to the firmware's UART0."""

    def __init__(self, board: Board, elf: str | Path, start_timeout: float = START_TIMEOUT_S):
        if board.simulator is None or board.simulator.name != "simavr":
            raise AotgenError(f"board {board.name} does not run in simavr")
        super().__init__(board, elf, start_timeout)
        self.total_cycles: int | None = None  # simulated cycles, known once the bridge has exited
        self._out = b""  # the bridge's stdout not yet consumed

    def start(self) -> Transport:
        self.check_elf()
        exe = bridge_path()
        sim = self.board.simulator
        assert sim is not None
        self.proc = subprocess.Popen([str(exe), sim.mcu, str(sim.clock_hz), str(self.elf)],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=self.new_stderr(),
                                     start_new_session=True, preexec_fn=die_with_parent)
        line = self._read_until("PTY ", self.start_timeout)
        if not line.startswith("PTY "):
            code = self.proc.poll()
            raise DeviceFailure(f"simavr bridge did not start ({'exit ' + str(code) if code is not None else 'no pty'})"
                              f"{self.stderr_tail()}")
        self.transport = open_transport(line[4:].strip(), baudrate=self.board.console.baud)
        return self.transport

    def _read_until(self, start: str, timeout: float) -> str:
        """The first line of the bridge's stdout that begins with `start` (simavr's loader prints
        its own lines first), waiting at most `timeout` s; "" if none came."""
        assert self.proc is not None and self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + timeout
        with selectors.DefaultSelector() as sel:
            sel.register(fd, selectors.EVENT_READ)
            while True:
                while b"\n" in self._out:
                    line, self._out = self._out.split(b"\n", 1)
                    text = line.decode(errors="replace")
                    if text.startswith(start):
                        return text
                left = deadline - time.monotonic()
                if left <= 0 or not sel.select(left):
                    return ""
                chunk = os.read(fd, 4096)
                if not chunk:
                    return ""
                self._out += chunk

    def crashed(self, wait: float = 1.0) -> str | None:
        """A description if the simulation has ended (the firmware stopped or crashed), else None."""
        code = self.exited(wait)
        if code is None:
            return None
        tail = self._read_until("EXIT ", 0.5)
        return f"simavr stopped ({tail.strip() or f'exit {code}'}){self.stderr_tail()}"

    def stderr_tail(self, lines: int = 12) -> str:
        text = self.stderr_lines()[-lines:]
        return (":\n" + "\n".join(text)) if text else ""

    def stop(self) -> None:
        self.close_transport()
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # the bridge prints its cycle count and exits
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.kill()
        tail = self._read_until("EXIT ", 0.5) if self.proc.stdout is not None else ""
        for word in tail.split():
            if word.startswith("cycles="):
                self.total_cycles = int(word[len("cycles="):])
        if self.proc.stdout is not None:
            self.proc.stdout.close()
