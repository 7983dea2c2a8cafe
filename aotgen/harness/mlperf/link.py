"""The MLPerf Tiny runner's protocol, host side: send a command as the official runner does
(`<command>%`), read the answer's lines up to `m-ready`, and check each line strictly.

Any MLPerf Tiny firmware speaks it (aotgen's aotgen_mlperf.c, or a vendor's). Every read has a
deadline; an `e-[...]` line is the firmware refusing the command; a line the command does not
answer with is a protocol error naming the command and the line, never silently skipped (it would
shift every later answer).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ...errors import DeviceFailure
from ..transport import Transport

TERMINATOR = "%"
READY = "m-ready"
MAX_COMMAND = 80
CHUNK_BYTES = 31  # the official runner's `db` chunk without a power monitor: 62 hex digits
MAX_LINE = 64 * 1024
DEFAULT_TIMEOUT = 5.0
# Lines a firmware prints at boot; never part of an answer.
_BOOT_RE = re.compile(r"m-timestamp-mode-(performance|energy)|m-init-done")
_FLOAT = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?|[-+]?(?:nan|inf)"
_RESULTS_RE = re.compile(rf"m-results-\[((?:{_FLOAT})(?:,(?:{_FLOAT}))*)\]", re.I)


class MlperfProtocolError(DeviceFailure):
    """The firmware's answer is not what the protocol says (or it did not answer in time)."""


class MlperfCommandRefused(DeviceFailure):
    """The firmware answered a command with an `e-[...]` line."""


@dataclass
class InferAnswer:
    """The answer to `infer N W`."""

    iterations: int
    warmups: int
    results: list[float]
    start_us: int | None = None  # the two m-lap-us timestamps (performance mode only)
    end_us: int | None = None

    @property
    def elapsed_us(self) -> int | None:
        return None if self.start_us is None or self.end_us is None else self.end_us - self.start_us


@dataclass
class MlperfLink:
    transport: Transport
    timeout: float = DEFAULT_TIMEOUT
    trace: Callable[[str], None] | None = None
    mode: str | None = None  # "performance" / "energy", from the boot lines when seen
    boot_lines: list[str] = field(default_factory=list)
    _buf: bytearray = field(default_factory=bytearray)

    # ---------------------------------------------------------------- lines

    def read_line(self, deadline: float) -> str | None:
        """One line without its CR/LF (NUL bytes dropped, as the runner does), or None at the deadline."""
        while True:
            nl = self._buf.find(b"\n")
            if nl >= 0:
                raw = bytes(self._buf[:nl]).replace(b"\r", b"").replace(b"\0", b"")
                del self._buf[: nl + 1]
                try:
                    line = raw.decode("ascii")
                except UnicodeDecodeError:
                    raise MlperfProtocolError(f"the firmware sent a line that is not ASCII: {raw[:80]!r}") from None
                if self.trace:
                    self.trace(f"< {line}")
                return line
            if len(self._buf) > MAX_LINE:
                raise MlperfProtocolError(f"the firmware sent {len(self._buf)} bytes without a line end")
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self._buf += self._read_some(min(left, 0.05))

    def _read_some(self, timeout: float) -> bytes:
        """What has arrived: waits up to `timeout` for the first byte only (a line's round trip
        must not cost a whole read slice)."""
        got = self.transport.read(1, timeout)
        if got:
            try:
                waiting = self.transport.port.in_waiting
            except (OSError, AttributeError, ValueError):
                waiting = 0
            if waiting:
                got += self.transport.read(waiting, 0)
        return got

    def _take_boot(self, line: str) -> bool:
        m = _BOOT_RE.fullmatch(line)
        if m and m.group(1):
            self.mode = m.group(1)
        if m:
            self.boot_lines.append(line)
        return m is not None

    def wait_for_boot(self, timeout: float) -> bool:
        """Read the boot lines (m-timestamp-mode-..., m-init-done, m-ready) if they come within
        `timeout`; True if they did. A real board may have booted before the port was opened."""
        deadline = time.monotonic() + timeout
        while (line := self.read_line(deadline)) is not None:
            if line == READY and self.boot_lines:
                return True
            if not self._take_boot(line):
                raise MlperfProtocolError(f"unexpected line from the firmware before any command: {line!r}")
        return False

    def drain(self, quiet: float) -> None:
        """Drop whatever arrives until the line is quiet for `quiet` s (a board's boot output we
        joined half-way), noting the timestamp mode if a boot line passes."""
        while True:
            got = self._read_some(quiet)
            if not got:
                break
            self._buf += got
        for line in bytes(self._buf).decode("ascii", errors="replace").splitlines():
            self._take_boot(line.strip("\r\0"))
        self._buf.clear()

    # ---------------------------------------------------------------- commands

    def command(self, command: str, timeout: float | None = None) -> list[str]:
        """Send `command%`; the answer's lines before m-ready. Boot lines before the answer (a
        board that reset when the port opened) are set aside. Raises MlperfCommandRefused on an
        e- line."""
        if len(command) > MAX_COMMAND or TERMINATOR in command or not command.isascii() or not command.isprintable():
            raise ValueError(f"not a protocol command: {command!r}")
        if self.trace:
            self.trace(f"> {command}{TERMINATOR}")
        self.transport.write((command + TERMINATOR).encode("ascii"))
        deadline = time.monotonic() + (timeout or self.timeout)
        lines: list[str] = []
        while True:
            line = self.read_line(deadline)
            if line is None:
                raise MlperfProtocolError(f"no m-ready from the firmware within {timeout or self.timeout:g} s after "
                                          f"'{command}' (got {lines[-3:] if lines else 'nothing'}); is it MLPerf Tiny "
                                          "firmware, running, at this baud rate?")
            if line == READY:
                if lines and all(self._take_boot(x) for x in lines):
                    lines = []  # the firmware's boot, not the answer: keep reading
                    continue
                break
            if line:
                lines.append(line)
        errors = [x for x in lines if x.startswith("e-")]
        if errors:
            raise MlperfCommandRefused(f"the firmware refused '{command}': {errors[0]}")
        return lines

    def _expect(self, command: str, lines: list[str], patterns: list[str]) -> list[re.Match]:
        if len(lines) != len(patterns):
            raise MlperfProtocolError(f"the firmware answered '{command}' with {len(lines)} lines, expected "
                                      f"{len(patterns)}: {lines[:8]}")
        found = []
        for i, (line, pattern) in enumerate(zip(lines, patterns)):
            m = re.fullmatch(pattern, line)
            if m is None:
                raise MlperfProtocolError(f"the firmware answered '{command}' with {line!r} as line {i + 1}, "
                                          f"expected {pattern}")
            found.append(m)
        return found

    def name(self) -> str:
        (m,) = self._expect("name", self.command("name"), [r"m-name-dut-\[([^\]]+)\]"])
        return m.group(1)

    def profile(self) -> tuple[str, str]:
        """(profile, model id)."""
        p, m = self._expect("profile", self.command("profile"), [r"m-profile-\[([^\]]+)\]", r"m-model-\[([^\]]+)\]"])
        return p.group(1), m.group(1)

    def load(self, data: bytes, chunk: int = CHUNK_BYTES) -> None:
        """`db load N`, then the bytes as hex in `chunk`-byte commands, as the runner sends them."""
        if not data:
            raise ValueError("an empty sample")
        self._expect(f"db load {len(data)}", self.command(f"db load {len(data)}"), [rf"m-\[Expecting {len(data)} bytes\]"])
        for off in range(0, len(data), chunk):
            part = data[off : off + chunk]
            last = off + len(part) == len(data)
            cmd = f"db {part.hex()}"
            self._expect(cmd, self.command(cmd), ["m-load-done"] if last else [])

    def infer(self, iterations: int, warmups: int, timeout: float) -> InferAnswer:
        cmd = f"infer {iterations} {warmups}"
        lines = self.command(cmd, timeout)
        timed = any(x.startswith("m-lap-us-") for x in lines)
        patterns = [rf"m-warmup-start-{warmups}", "m-warmup-done", rf"m-infer-start-{iterations}"]
        patterns += [r"m-lap-us-(\d+)", r"m-lap-us-(\d+)"] if timed else []
        patterns += ["m-infer-done", _RESULTS_RE.pattern]
        found = self._expect(cmd, lines, patterns)
        answer = InferAnswer(iterations, warmups, parse_results(lines[-1]))
        if timed:
            answer.start_us, answer.end_us = int(found[3].group(1)), int(found[4].group(1))
            if answer.end_us < answer.start_us:
                raise MlperfProtocolError(f"the firmware's timestamps go backwards: {answer.start_us} then "
                                          f"{answer.end_us} us")
        return answer

    def results(self) -> list[float]:
        (m,) = self._expect("results", self.command("results"), [_RESULTS_RE.pattern])
        return parse_results(m.group(0))


def parse_results(line: str) -> list[float]:
    m = _RESULTS_RE.fullmatch(line)
    if m is None:
        raise MlperfProtocolError(f"malformed results line from the firmware: {line[:200]!r}")
    return [float(x) for x in m.group(1).split(",")]
