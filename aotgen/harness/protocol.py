"""Framing, CRC and request/response with retries: the host half of docs/harness-protocol.md."""

from __future__ import annotations

import binascii
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ..errors import DeviceFailure
from .transport import Transport

VERSION = 2  # 2: the READY banner ends with the firmware identity
SYNC = b"\xa5\x5a"
HEADER = struct.Struct("<BBH")  # type, seq, length (after the sync pair)
OVERHEAD = len(SYNC) + HEADER.size + 2

HELLO, SET_INPUT, RUN, GET_OUTPUT = 0x01, 0x02, 0x03, 0x04
READY, ACK, RESULT, OUTPUT, ERROR = 0x80, 0x81, 0x83, 0x84, 0xEE
TYPE_NAMES = {HELLO: "HELLO", SET_INPUT: "SET_INPUT", RUN: "RUN", GET_OUTPUT: "GET_OUTPUT",
              READY: "READY", ACK: "ACK", RESULT: "RESULT", OUTPUT: "OUTPUT", ERROR: "ERROR"}

E_BAD_CRC, E_TIMEOUT, E_BAD_LENGTH, E_UNKNOWN_TYPE, E_BAD_MODEL, E_BAD_TENSOR, E_OUT_OF_RANGE, E_BAD_PAYLOAD = range(1, 9)
ERROR_NAMES = {E_BAD_CRC: "BAD_CRC", E_TIMEOUT: "TIMEOUT", E_BAD_LENGTH: "BAD_LENGTH",
               E_UNKNOWN_TYPE: "UNKNOWN_TYPE", E_BAD_MODEL: "BAD_MODEL", E_BAD_TENSOR: "BAD_TENSOR",
               E_OUT_OF_RANGE: "OUT_OF_RANGE", E_BAD_PAYLOAD: "BAD_PAYLOAD"}
# Errors that mean "the frame was damaged on the way": the request is sent again.
FRAMING_ERRORS = {E_BAD_CRC, E_TIMEOUT, E_BAD_LENGTH}

DEFAULT_RETRIES = 3
# The device streams each frame without pauses: one still incomplete GAP_S + its size at MIN_RATE
# (bytes/s; 9600 baud is ~960) after its header arrived is line noise, not a frame.
GAP_S = 0.5
MIN_RATE = 800
MAX_FRAME_PAYLOAD = 8192  # the host's limit for device frames; a longer length is noise


def crc16(data: bytes) -> int:
    """CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF), as the device computes it."""
    return binascii.crc_hqx(data, 0xFFFF)


def type_name(t: int) -> str:
    return TYPE_NAMES.get(t, f"0x{t:02X}")


@dataclass
class Frame:
    type: int
    seq: int
    payload: bytes

    def encode(self) -> bytes:
        body = HEADER.pack(self.type, self.seq, len(self.payload)) + self.payload
        return SYNC + body + struct.pack("<H", crc16(body))


def encode(type_: int, seq: int, payload: bytes = b"") -> bytes:
    return Frame(type_, seq, payload).encode()


class ProtocolError(DeviceFailure):
    """The conversation with the firmware failed (no answer, garbled answers, wrong answer)."""


class DeviceError(ProtocolError):
    """The firmware answered a request with an ERROR frame."""

    def __init__(self, code: int, request: int, message: str):
        super().__init__(message)
        self.code = code
        self.request = request


class _CrcMismatch(Exception):
    pass


class FrameReader:
    """Finds frames in the byte stream; skips noise before a sync pair."""

    def __init__(self, transport: Transport):
        self.transport = transport
        self.buf = bytearray()
        self.partial_since: float | None = None

    def read_frame(self, timeout: float) -> Frame | None:
        """The next complete frame, or None at the deadline. Raises _CrcMismatch on a damaged
        frame (after dropping its sync pair so the search resumes behind it)."""
        deadline = time.monotonic() + timeout
        while True:
            frame = self._parse()
            if frame is not None:
                return frame
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self.buf += self.transport.read(max(1, self._wanted()), min(left, 0.25))
            self._drop_stalled()

    def _drop_stalled(self) -> None:
        """A frame that takes far longer than the line needs to deliver it had a header made of
        noise (a bogus length would otherwise swallow every real frame behind it): resume the
        search after its sync byte."""
        if len(self.buf) < len(SYNC) + HEADER.size or self.buf[:2] != SYNC:
            self.partial_since = None
            return
        now = time.monotonic()
        if self.partial_since is None:
            self.partial_since = now
            return
        _, _, length = HEADER.unpack_from(self.buf, len(SYNC))
        if now - self.partial_since > GAP_S + (OVERHEAD + length) / MIN_RATE:
            del self.buf[:1]
            self.partial_since = None

    def _wanted(self) -> int:
        start = self.buf.find(SYNC)
        if start < 0 or len(self.buf) - start < len(SYNC) + HEADER.size:
            return 1
        _, _, length = HEADER.unpack_from(self.buf, start + len(SYNC))
        return start + OVERHEAD + length - len(self.buf)

    def _parse(self) -> Frame | None:
        while True:
            start = self.buf.find(SYNC)
            if start < 0:
                # Keep a trailing 0xA5: it may be the first half of a sync pair.
                del self.buf[: max(0, len(self.buf) - 1)]
                return None
            del self.buf[:start]
            if len(self.buf) < len(SYNC) + HEADER.size:
                return None
            type_, seq, length = HEADER.unpack_from(self.buf, len(SYNC))
            if length <= MAX_FRAME_PAYLOAD:
                break
            del self.buf[:1]  # a length no device frame has: noise, search on
        end = OVERHEAD + length
        if len(self.buf) < end:
            return None
        body = bytes(self.buf[len(SYNC) : end - 2])
        (crc,) = struct.unpack_from("<H", self.buf, end - 2)
        if crc != crc16(body):
            del self.buf[:1]
            raise _CrcMismatch()
        del self.buf[:end]
        return Frame(type_, seq, body[HEADER.size :])

    def discard(self) -> None:
        self.buf.clear()


@dataclass
class LinkStats:
    crc_errors: int = 0  # damaged frames either way (device BAD_CRC answers + host CRC mismatches)
    timeouts: int = 0
    retries: int = 0
    requests: int = 0


@dataclass
class Link:
    """Request/response over a transport: sequence numbers, timeouts, retries."""

    transport: Transport
    timeout: float = 2.0  # for one answer
    retries: int = DEFAULT_RETRIES
    stats: LinkStats = field(default_factory=LinkStats)
    trace: Callable[[str], None] | None = None  # gets one line per frame sent or received

    def __post_init__(self) -> None:
        self.reader = FrameReader(self.transport)
        self._seq = 0

    def next_seq(self) -> int:
        self._seq = self._seq % 255 + 1  # 1..255; 0 marks the unsolicited READY
        return self._seq

    def send(self, frame: Frame) -> None:
        self._trace("->", frame)
        self.transport.write(frame.encode())

    def _trace(self, arrow: str, frame: Frame | None, note: str = "") -> None:
        if self.trace is None:
            return
        if frame is None:
            self.trace(f"{arrow} {note}")
            return
        detail = ""
        if frame.type == ERROR and frame.payload:
            detail = f" {ERROR_NAMES.get(frame.payload[0], frame.payload[0])}"
        self.trace(f"{arrow} {type_name(frame.type)} seq {frame.seq} len {len(frame.payload)}{detail}")

    def receive(self, timeout: float) -> Frame | None:
        """One frame or None at the deadline; damaged frames are counted and skipped."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                f = self.reader.read_frame(max(0.0, deadline - time.monotonic()))
                if f is not None:
                    self._trace("<-", f)
                return f
            except _CrcMismatch:
                self._trace("<-", None, "damaged frame (CRC)")
                self.stats.crc_errors += 1

    def request(self, type_: int, payload: bytes, expect: int, timeout: float | None = None,
                retry_on_timeout: bool = True) -> Frame:
        """Send a request and return the answer of type `expect`.

        Damaged requests or answers and missing answers are retried up to `retries` times (every
        request is idempotent); an ERROR answer that is not about framing raises DeviceError.
        """
        timeout = self.timeout if timeout is None else timeout
        seq = self.next_seq()
        frame = Frame(type_, seq, payload)
        crc_errors = timeouts = 0
        self.stats.requests += 1
        for attempt in range(self.retries + 1):
            if attempt:
                self.stats.retries += 1
            self.send(frame)
            outcome = self._await(seq, type_, expect, timeout)
            if isinstance(outcome, Frame):
                return outcome
            if outcome == "timeout":
                timeouts += 1
                self.stats.timeouts += 1
                if not retry_on_timeout:
                    break
            else:
                crc_errors += 1
        what = type_name(type_)
        if crc_errors:
            raise ProtocolError(f"{what} failed after {attempt + 1} attempts: {crc_errors} CRC/framing errors, "
                                f"{timeouts} timeouts on {self.transport.name} (noisy line or wrong baud rate?)")
        raise ProtocolError(f"no answer to {what} within {timeout:g} s ({attempt + 1} attempts) on "
                            f"{self.transport.name}; is the firmware still running?")

    def _await(self, seq: int, type_: int, expect: int, timeout: float) -> Frame | str:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return "timeout"
            try:
                f = self.reader.read_frame(left)
            except _CrcMismatch:
                self._trace("<-", None, "damaged frame (CRC)")
                self.stats.crc_errors += 1
                # Let the rest of the damaged answer arrive and drop it, then ask again.
                time.sleep(0.05)
                self.transport.read(1 << 16, 0.05)
                self.reader.discard()
                return "crc"
            if f is None:
                self._trace("<-", None, f"nothing within {timeout:g} s")
                return "timeout"
            self._trace("<-", f)
            if f.type == ERROR and len(f.payload) >= 1 and f.payload[0] in FRAMING_ERRORS:
                # The device could not read our frame (its seq may be garbage): send it again.
                self.stats.crc_errors += 1
                return "crc"
            if f.seq != seq:
                continue  # stale: the answer to an earlier attempt, or an unsolicited READY
            if f.type == ERROR:
                code = f.payload[0] if f.payload else 0
                raise DeviceError(code, type_, f"firmware rejected {type_name(type_)}: "
                                  f"{ERROR_NAMES.get(code, f'error {code}')}")
            if f.type != expect:
                raise ProtocolError(f"firmware answered {type_name(type_)} with {type_name(f.type)}, "
                                    f"expected {type_name(expect)}")
            return f
