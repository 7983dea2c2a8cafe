"""A conversation with one running firmware: handshake, banner check, inputs, run, outputs."""

from __future__ import annotations

import struct
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..compiler.mlf import ModelLibrary
from .identity import SIZE as IDENTITY_SIZE
from .identity import firmware_identity
from . import protocol as P
from .protocol import Frame, Link, ProtocolError
from .transport import Transport

HELLO_INTERVAL_S = 0.5
# Real ports: listen this long before the first HELLO (bootloaders after an auto-reset wait ~1 s).
REAL_PORT_QUIET_S = 1.5
DEFAULT_HANDSHAKE_TIMEOUT = 10.0
DEFAULT_RUN_TIMEOUT = 120.0
UNIT_INSTRUCTIONS = "instructions (QEMU icount)"
UNIT_CYCLES = "cycles"


@dataclass
class ModelInfo:
    """One model as the firmware announces it."""

    name: str
    input_sizes: list[int]
    output_sizes: list[int]

    def describe(self) -> str:
        return f"{self.name} (inputs {self.input_sizes} B, outputs {self.output_sizes} B)"

    @classmethod
    def of(cls, lib: ModelLibrary) -> "ModelInfo":
        return cls(lib.prefix, [t.nbytes for t in lib.inputs], [t.nbytes for t in lib.outputs])


@dataclass
class Banner:
    version: int
    max_payload: int
    instructions: bool  # counts are instructions (QEMU icount), not cycles
    models: list[ModelInfo]
    identity: bytes = b""  # what the firmware was built from (harness/identity.py)

    @property
    def unit(self) -> str:
        return UNIT_INSTRUCTIONS if self.instructions else UNIT_CYCLES


def parse_banner(payload: bytes) -> Banner:
    try:
        version = payload[0]
        if version != P.VERSION:
            raise ProtocolError(f"the firmware speaks harness protocol v{version}, this aotgen speaks "
                                f"v{P.VERSION}: regenerate and rebuild the project with this aotgen")
        max_payload, flags, count = struct.unpack_from("<HBB", payload, 1)
        pos, models = 5, []
        for _ in range(count):
            n = payload[pos]
            name = payload[pos + 1 : pos + 1 + n].decode("ascii", errors="replace")
            pos += 1 + n
            n_in, n_out = payload[pos], payload[pos + 1]
            pos += 2
            sizes = list(struct.unpack_from(f"<{n_in + n_out}I", payload, pos))
            pos += 4 * (n_in + n_out)
            models.append(ModelInfo(name, sizes[:n_in], sizes[n_in:]))
        identity = payload[pos : pos + IDENTITY_SIZE]
        if len(identity) != IDENTITY_SIZE:
            raise IndexError
        pos += IDENTITY_SIZE
    except (IndexError, struct.error):
        raise ProtocolError(f"malformed READY banner from the firmware ({len(payload)} bytes)") from None
    if pos != len(payload):
        raise ProtocolError(f"malformed READY banner: {len(payload) - pos} bytes left over")
    if max_payload < 8:
        raise ProtocolError(f"firmware announces max_payload {max_payload}; at least 8 is needed")
    return Banner(version, max_payload, bool(flags & 1), models, identity)


def match_models(banner: Banner, libs: list[ModelLibrary]) -> list[int]:
    """The firmware's model index for each library; a clear error if the firmware runs other
    models or the same names with other tensor sizes, or was not built from these libraries."""
    indices = []
    for lib in libs:
        want = ModelInfo.of(lib)
        found = [i for i, m in enumerate(banner.models) if m == want]
        if found:
            indices.append(found[0])
            continue
        runs = ", ".join(m.describe() for m in banner.models) or "no models"
        raise ProtocolError(f"firmware runs model {runs}, expected {want.describe()}; "
                            "flash the firmware built for this model (or test the project it was built from)")
    check_identity(banner, libs, indices)
    return indices


def check_identity(banner: Banner, libs: list[ModelLibrary], indices: list[int]) -> None:
    """Refuse firmware not built from `libs` (all of its models, in its order): stale (the project
    was regenerated, the board not reflashed) or foreign firmware must never pass."""
    by_index = dict(zip(indices, libs))
    if sorted(by_index) != list(range(len(banner.models))):
        names = ", ".join(m.name for m in banner.models)
        raise ProtocolError(f"the firmware runs {len(banner.models)} models ({names}); give the libraries of all of "
                            "them to check what it was built from")
    want = firmware_identity([by_index[i] for i in range(len(banner.models))])
    if banner.identity != want:
        raise ProtocolError(f"the firmware was built from other libraries (firmware id {banner.identity.hex()}, "
                            f"this project's libraries give {want.hex()}): it is stale or foreign; rebuild and "
                            "flash the project (aotgen build, aotgen flash) and test again")


@dataclass
class RunResult:
    status: int  # what <prefix>_run returned
    count: int
    instructions: bool

    @property
    def unit(self) -> str:
        return UNIT_INSTRUCTIONS if self.instructions else UNIT_CYCLES


class Session:
    def __init__(self, transport: Transport, timeout: float = 2.0, run_timeout: float = DEFAULT_RUN_TIMEOUT,
                 retries: int = P.DEFAULT_RETRIES, trace: Callable[[str], None] | None = None):
        self.link = Link(transport, timeout=timeout, retries=retries, trace=trace)
        self.run_timeout = run_timeout
        self.banner: Banner | None = None

    @property
    def transport(self) -> Transport:
        return self.link.transport

    def handshake(self, timeout: float = DEFAULT_HANDSHAKE_TIMEOUT, quiet: float = 0.0) -> Banner:
        """Wait for READY: the one sent at boot, or the answer to a HELLO (sent every 0.5 s, for a
        board that booted before the port was opened). `quiet`: seconds to only listen first, so
        a board that resets when its port opens (Arduino auto-reset) is not sent bytes while its
        bootloader runs."""
        deadline = time.monotonic() + timeout
        next_hello = time.monotonic() + quiet
        while True:
            now = time.monotonic()
            if now >= deadline:
                raise ProtocolError(f"no firmware answered on {self.transport.name} within {timeout:g} s "
                                    "(no READY banner): is it flashed with an aotgen harness build, running, "
                                    "and on this port at the right baud rate?")
            if now >= next_hello:
                self.link.send(Frame(P.HELLO, self.link.next_seq(), b""))
                next_hello = now + HELLO_INTERVAL_S
            f = self.link.receive(min(next_hello, deadline) - time.monotonic())
            if f is not None and f.type == P.READY:
                self.banner = parse_banner(f.payload)
                return self.banner

    def _banner(self) -> Banner:
        if self.banner is None:
            raise ProtocolError("handshake() first")
        return self.banner

    def set_input(self, model: int, index: int, data: bytes) -> None:
        """Send one input tensor in chunks that fit the device's RX buffer; each is acknowledged."""
        chunk = self._banner().max_payload - 6
        for off in range(0, len(data), chunk):
            payload = struct.pack("<BBI", model, index, off) + data[off : off + chunk]
            self.link.request(P.SET_INPUT, payload, P.ACK)

    def run(self, model: int) -> RunResult:
        # A RUN that timed out is not retried: the device may still be computing.
        f = self.link.request(P.RUN, bytes([model]), P.RESULT, timeout=self.run_timeout, retry_on_timeout=False)
        if len(f.payload) != 10 or f.payload[0] != model:
            raise ProtocolError(f"malformed RESULT from the firmware ({f.payload.hex()})")
        _, status, count, flags = struct.unpack("<BiIB", f.payload)
        return RunResult(status, count, bool(flags & 1))

    def get_output(self, model: int, index: int, size: int) -> bytes:
        chunk = self._banner().max_payload
        out = bytearray()
        for off in range(0, size, chunk):
            n = min(chunk, size - off)
            f = self.link.request(P.GET_OUTPUT, struct.pack("<BBIH", model, index, off, n), P.OUTPUT)
            if f.payload[:6] != struct.pack("<BBI", model, index, off) or len(f.payload) != 6 + n:
                raise ProtocolError(f"malformed OUTPUT from the firmware (asked {n} bytes at {off}, "
                                    f"got {len(f.payload) - 6})")
            out += f.payload[6:]
        return bytes(out)

    def infer(self, model: int, lib: ModelLibrary, sample: list[np.ndarray]) -> tuple[list[np.ndarray], RunResult]:
        """One inference: inputs in, run, outputs back (as arrays shaped like the library's)."""
        for i, (x, t) in enumerate(zip(sample, lib.inputs)):
            self.set_input(model, i, np.ascontiguousarray(x, dtype=t.dtype).tobytes())
        result = self.run(model)
        if result.status != 0:
            raise ProtocolError(f"{lib.prefix}_run returned {result.status} on the device")
        outs = [np.frombuffer(self.get_output(model, i, t.nbytes), dtype=t.dtype).reshape(t.shape).copy()
                for i, t in enumerate(lib.outputs)]
        return outs, result
