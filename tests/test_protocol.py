"""The harness protocol end to end: the real device-side C (project_templates/common), compiled
for the host with gcc and served over TCP, driven by the Python host side through pyserial.

Faults are injected on the wire (a transport that damages what it writes, raw frames written
by hand), never by replacing either side. Every test is bounded: the protocol's own timeouts,
plus an alarm that fails a test outright if it ever blocks."""

from __future__ import annotations

import copy
import dataclasses
import shutil
import socket
import struct
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import aotgen
from aotgen.harness import protocol as P
from aotgen.harness.hostbuild import build_host_harness, start_host_harness
from aotgen.harness.protocol import DeviceError, Frame, Link, ProtocolError
from aotgen.harness.runner import check_session
from aotgen.harness.identity import firmware_identity
from aotgen.harness.session import Session, match_models, parse_banner
from aotgen.harness.transport import LinkClosed, Transport, open_transport
from aotgen.compiler.mlf import ModelLibrary
from aotgen.verify.compare import random_inputs

from aotgen_testlib import MODELS, time_limit

TEST_LIMIT_S = 60
BYTE_TIMEOUT_MS = 100  # the device's inter-byte timeout in this build (the C default)


@pytest.fixture(autouse=True)
def _bounded():
    """Fail any test of this module that runs longer than TEST_LIMIT_S instead of hanging CI."""
    with time_limit(TEST_LIMIT_S):
        yield


@pytest.fixture(scope="module")
def libs(tmp_path_factory) -> list[ModelLibrary]:
    """hello_world_int8 (1-byte tensors) and KWS (a 490-byte input: two SET_INPUT chunks)."""
    d = tmp_path_factory.mktemp("harness_mlf")
    return [aotgen.compile(MODELS / "tflite_micro/hello_world_int8.tflite", d / "hello").library,
            aotgen.compile(MODELS / "mlperf_tiny/kws_ref_model.tflite", d / "kws", prefix="kws").library]


@pytest.fixture(scope="module")
def harness_exe(libs, tmp_path_factory) -> Path:
    return build_host_harness(libs, tmp_path_factory.mktemp("harness_host"),
                              defines={"HARNESS_BYTE_TIMEOUT_MS": BYTE_TIMEOUT_MS})


@pytest.fixture
def device(harness_exe):
    """A fresh host harness process and a pyserial transport connected to it."""
    with start_host_harness(harness_exe, max_seconds=TEST_LIMIT_S) as h, open_transport(h.url) as t:
        yield t


def raw_frame(link: Link, timeout: float = 2.0) -> Frame:
    f = link.receive(timeout)
    assert f is not None, "no frame from the device"
    return f


def synced_link(transport: Transport) -> Link:
    """A link past the handshake. (The boot READY may be gone: pyserial's socket open flushes
    input that arrived while connecting, just as a real board's banner is lost when it booted
    before the port was opened; HELLO asks again.)"""
    link = Link(transport)
    link.send(Frame(P.HELLO, 1, b""))
    while (f := raw_frame(link)).type != P.READY or f.seq != 1:
        pass
    return link


def ready_session(transport: Transport) -> Session:
    s = Session(transport, timeout=1.0)
    s.handshake(5.0)
    return s


# ------------------------------------------------------------------------------ portability

COMPILERS = {
    "host": ["gcc"],
    "cortex-m0": ["arm-none-eabi-gcc", "-mcpu=cortex-m0", "-mthumb"],
    "avr (16-bit int)": ["avr-gcc", "-mmcu=atmega2560"],
    "rv32": ["riscv64-unknown-elf-gcc", "-march=rv32imc", "-mabi=ilp32"],
}


@pytest.mark.parametrize("target", list(COMPILERS))
def test_device_side_is_warning_free_c99_everywhere(target, tmp_path):
    """Every template (CMSIS, Zephyr, Arduino) compiles the same file pair: strict C99, no
    warnings even with -Wconversion, on 32-bit, 16-bit-int and host compilers."""
    from aotgen.harness import HARNESS_C

    cmd = COMPILERS[target]
    if shutil.which(cmd[0]) is None:
        pytest.skip(f"{cmd[0]} not installed")
    proc = subprocess.run([*cmd, "-std=c99", "-pedantic", "-Wall", "-Wextra", "-Wconversion", "-Wsign-conversion",
                           "-Werror", "-Os", "-c", str(HARNESS_C), "-o", str(tmp_path / "h.o")],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr


# ------------------------------------------------------------------------------ normal traffic


def test_crc_is_ccitt_false():
    assert P.crc16(b"123456789") == 0x29B1  # the catalogued check value


def test_round_trip_matches_reference(device, libs):
    s = Session(device, timeout=1.0)
    banner = s.handshake(5.0)
    assert banner.version == 2 and banner.max_payload == 256 and not banner.instructions
    assert banner.identity == firmware_identity(libs)  # built from these very libraries
    assert [m.name for m in banner.models] == ["hello_world_int8", "kws"]
    assert banner.models[1].input_sizes == [490] and banner.models[1].output_sizes == [12]
    samples = [random_inputs(lib.inputs, 3, seed=7) for lib in libs]
    result = check_session(s, libs, samples)
    assert result.passed, [r.to_json() for r in result.reports]
    assert [len(r.samples) for r in result.reports] == [3, 3]
    for report in result.reports:
        for sample in report.samples:
            assert sample.cycles_unit == "cycles" and sample.cycles > 0
            assert all(o.max_abs_error <= 2 for o in sample.outputs)
    # 490 bytes = two chunks; nothing was retried on a clean line.
    assert result.link.retries == 0 and result.link.crc_errors == 0
    assert result.outputs[1][0][0].shape == (1, 12) and result.outputs[1][0][0].dtype == np.int8


def test_handshake_by_hello_after_missed_boot_banner(device):
    """A board that booted before the port was opened: its READY is gone; HELLO asks again."""
    synced_link(device)  # the boot banner (if it was not flushed) and one READY consumed here
    s = Session(device)
    banner = s.handshake(3.0)
    assert len(banner.models) == 2


def test_line_noise_between_frames_is_ignored(device):
    s = ready_session(device)
    device.write(bytes(range(0x00, 0xA5)) + b"\x5a\x5a\x00\xff")
    out = s.get_output(1, 0, 12)
    assert len(out) == 12


# ------------------------------------------------------------------------------ damaged frames


def test_corrupted_crc_gets_error_frame(device):
    link = synced_link(device)
    bad = bytearray(P.encode(P.RUN, 9, b"\x00"))
    bad[-1] ^= 0xFF
    t0 = time.monotonic()
    device.write(bytes(bad))
    f = raw_frame(link)
    assert (f.type, f.payload[0], f.payload[1]) == (P.ERROR, P.E_BAD_CRC, P.RUN)
    assert time.monotonic() - t0 < 1.0


class Corrupting(Transport):
    """A real transport that damages the CRC of its next `count` writes (a noisy line)."""

    def __init__(self, inner: Transport, count: int):
        super().__init__(inner.port, inner.name)
        self.count = count

    def write(self, data: bytes) -> None:
        if self.count > 0:
            self.count -= 1
            data = data[:-1] + bytes([data[-1] ^ 0x5A])
        super().write(data)


def test_host_retries_after_crc_error(device, libs):
    s = ready_session(device)
    s.link.transport = noisy = Corrupting(device, 1)
    trace: list[str] = []
    s.link.trace = trace.append  # the frames, as `aotgen test --trace` shows them
    x = random_inputs(libs[1].inputs, 1, seed=3)[0]
    outs, result = s.infer(1, libs[1], x)
    assert result.status == 0 and noisy.count == 0
    assert s.link.stats.retries == 1 and s.link.stats.crc_errors == 1
    # (A late READY, the answer to a handshake HELLO, may show up too: stale, and skipped.)
    seq = [t for t in trace if "SET_INPUT" in t][0].split()[3]
    assert [t for t in trace if "READY" not in t][:3] == [
        f"-> SET_INPUT seq {seq} len 256", f"<- ERROR seq {seq} len 2 BAD_CRC", f"-> SET_INPUT seq {seq} len 256"]
    clean = ready_session(device)  # same device: the retried run gave the same answer
    assert np.array_equal(clean.infer(1, libs[1], x)[0][0], outs[0])


class NoiseFirst(Transport):
    """A real transport whose first read is preceded by line noise."""

    def __init__(self, inner: Transport, noise: bytes):
        super().__init__(inner.port, inner.name)
        self.noise = noise

    def read(self, n: int, timeout: float) -> bytes:
        data = super().read(n, timeout)
        noise, self.noise = self.noise, b""
        return noise + data


@pytest.mark.parametrize("length", [0xFFFF, 1024])
def test_noise_that_looks_like_a_header_does_not_swallow_frames(device, length):
    """A sync pair and a bogus length from noise: the host does not wait for bytes that never
    come, absorbing the real frames behind it (a length no device frame has is dropped at once;
    a plausible one once it is overdue)."""
    t0 = time.monotonic()
    banner = Session(NoiseFirst(device, b"\xa5\x5a\x80\x00" + struct.pack("<H", length))).handshake(4.0)
    assert len(banner.models) == 2 and time.monotonic() - t0 < 3.0


def test_persistent_crc_errors_fail_naming_the_count(device):
    s = ready_session(device)
    s.link.transport = Corrupting(device, 100)
    t0 = time.monotonic()
    with pytest.raises(ProtocolError, match=r"RUN failed after 4 attempts: 4 CRC/framing errors"):
        s.run(0)
    assert time.monotonic() - t0 < 5


def test_truncated_frame_gets_timeout_error_not_a_hang(device):
    link = synced_link(device)
    frame = P.encode(P.SET_INPUT, 5, struct.pack("<BBI", 1, 0, 0) + bytes(100))
    t0 = time.monotonic()
    device.write(frame[:20])  # header says 106 bytes of payload; 12 arrive
    f = raw_frame(link, timeout=3.0)
    waited = time.monotonic() - t0
    assert (f.type, f.payload[0], f.payload[1], f.seq) == (P.ERROR, P.E_TIMEOUT, P.SET_INPUT, 5)
    assert BYTE_TIMEOUT_MS / 1000 * 0.9 <= waited < 2.0
    # The device is ready for the next frame.
    link.send(Frame(P.HELLO, 6, b""))
    assert raw_frame(link).type == P.READY


def test_length_above_max_payload_is_rejected(device):
    link = synced_link(device)
    # 300 > max_payload 256; a valid HELLO hides in the payload.
    payload = bytes(40) + P.encode(P.HELLO, 77) + bytes(252)
    device.write(P.encode(P.SET_INPUT, 3, payload))
    f = raw_frame(link, timeout=3.0)
    assert (f.type, f.payload[0]) == (P.ERROR, P.E_BAD_LENGTH)
    # The rest of the oversized frame was discarded, not parsed: no READY for the hidden HELLO.
    assert link.receive(0.3) is None


def mutate(frame: bytes, rng: np.random.Generator) -> bytes:
    """One kind of line damage: flipped bits, a cut, inserted bytes, a bogus length, noise, or
    an oversized frame."""
    b = bytearray(frame)
    kind = rng.integers(6)
    if kind == 0:
        for _ in range(rng.integers(1, 4)):
            b[rng.integers(len(b))] ^= 1 << int(rng.integers(8))
    elif kind == 1:
        b = b[: rng.integers(1, len(b))]
    elif kind == 2:
        at = int(rng.integers(len(b)))
        b[at:at] = rng.integers(0, 256, size=int(rng.integers(1, 8)), dtype=np.uint8).tobytes()
    elif kind == 3:
        b[4:6] = struct.pack("<H", int(rng.integers(0, 0x10000)))
    elif kind == 4:
        b = bytearray(rng.integers(0, 256, size=int(rng.integers(1, 300)), dtype=np.uint8).tobytes())
    else:  # an oversized frame that really carries its bytes
        n = int(rng.integers(257, 1200))
        b = bytearray(P.encode(b[2], b[3], rng.integers(0, 256, size=n, dtype=np.uint8).tobytes()))
    return bytes(b)


def test_damaged_frames_never_wedge_the_device(libs, tmp_path):
    """120 randomly damaged requests against the device side built with AddressSanitizer and
    UBSan: after each, the device still answers a HELLO, and no memory error is ever reported."""
    exe = build_host_harness(libs, tmp_path, defines={"HARNESS_BYTE_TIMEOUT_MS": 20},
                             cflags=["-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-g"])
    rng = np.random.default_rng(2024)
    valid = [P.encode(P.HELLO, 1), P.encode(P.RUN, 2, b"\x00"), P.encode(P.GET_OUTPUT, 3, struct.pack("<BBIH", 1, 0, 0, 12)),
             P.encode(P.SET_INPUT, 4, struct.pack("<BBI", 1, 0, 200) + bytes(range(250)))]
    with start_host_harness(exe, max_seconds=TEST_LIMIT_S) as h, open_transport(h.url) as t:
        link = Link(t)
        try:
            fuzz(t, link, h, rng, valid)
        except LinkClosed:  # the device died: show why (the sanitizer's report)
            h.proc.wait(timeout=10)
            pytest.fail(h.proc.stderr.read().decode()[-3000:])
        h.proc.terminate()
        _, err = h.proc.communicate(timeout=10)
    assert "Sanitizer" not in err.decode() and "runtime error" not in err.decode(), err.decode()[-2000:]


def fuzz(t: Transport, link: Link, h, rng: np.random.Generator, valid: list[bytes]) -> None:
    """Damage a request, then make sure a HELLO is answered (resent if the damage ate it)."""
    for i in range(120):
        t.write(mutate(valid[i % len(valid)], rng))
        seq = 100 + i % 100
        deadline, answered = time.monotonic() + 3.0, False
        while not answered and time.monotonic() < deadline:
            link.send(Frame(P.HELLO, seq, b""))  # again if the last one was eaten by the damage
            end = time.monotonic() + 0.3
            while (f := link.receive(max(0.0, end - time.monotonic()))) is not None:
                if f.type == P.READY and f.seq == seq:
                    answered = True
                    break
        assert answered, f"device silent after damaged frame {i}"
        assert h.proc.poll() is None, h.proc.stderr.read().decode()[-2000:]  # a sanitizer aborts it


# ------------------------------------------------------------------------------ bad requests


@pytest.mark.parametrize("type_, payload, code", [
    (P.SET_INPUT, struct.pack("<BBI", 2, 0, 0) + b"\x01", P.E_BAD_MODEL),
    (P.SET_INPUT, struct.pack("<BBI", 0, 1, 0) + b"\x01", P.E_BAD_TENSOR),
    (P.SET_INPUT, struct.pack("<BBI", 1, 0, 480) + bytes(11), P.E_OUT_OF_RANGE),  # 480 + 11 > 490
    (P.SET_INPUT, struct.pack("<BBI", 1, 0, 0xFFFFFFFF) + b"\x01", P.E_OUT_OF_RANGE),
    (P.SET_INPUT, struct.pack("<BBI", 1, 0, 0), P.E_BAD_PAYLOAD),  # no data
    (P.RUN, b"\x05", P.E_BAD_MODEL),
    (P.RUN, b"\x00\x00", P.E_BAD_PAYLOAD),
    (P.GET_OUTPUT, struct.pack("<BBIH", 1, 0, 0, 13), P.E_OUT_OF_RANGE),  # the output has 12 bytes
    (P.GET_OUTPUT, struct.pack("<BBIH", 1, 3, 0, 1), P.E_BAD_TENSOR),
    (P.GET_OUTPUT, struct.pack("<BBIH", 1, 0, 0, 0), P.E_BAD_PAYLOAD),
    (0x42, b"", P.E_UNKNOWN_TYPE),
])
def test_bad_request_gets_error_frame(device, type_, payload, code):
    s = ready_session(device)
    with pytest.raises(DeviceError, match=P.ERROR_NAMES[code]) as e:
        s.link.request(type_, payload, P.ACK)
    assert (e.value.code, e.value.request) == (code, type_)
    assert s.link.stats.retries == 0  # a rejected request is not retried
    assert len(s.get_output(0, 0, 1)) == 1  # and the device carries on


# ------------------------------------------------------------------------------ a serial device


def test_round_trip_over_a_pty(harness_exe, libs):
    """The code path of a board's USB serial port (a tty device: termios, exclusive lock), with the
    firmware's boot banner sent before the port was opened."""
    with start_host_harness(harness_exe, max_seconds=TEST_LIMIT_S, pty=True) as h:
        assert h.url.startswith("/dev/")
        with open_transport(h.url) as t:
            s = Session(t, timeout=1.0)
            s.handshake(5.0)
            result = check_session(s, libs, [random_inputs(lib.inputs, 3, seed=9) for lib in libs])
            assert result.passed and result.transport == h.url


def test_quiet_period_before_the_first_hello(harness_exe):
    """Real ports: nothing is sent for `quiet` seconds (a freshly reset board's bootloader must not
    get our bytes); the banner still comes, from a HELLO afterwards if the boot one was missed."""
    with start_host_harness(harness_exe, max_seconds=TEST_LIMIT_S, pty=True) as h, open_transport(h.url) as t:
        sent: list[float] = []
        s = Session(t, trace=lambda line: sent.append(time.monotonic()) if line.startswith("->") else None)
        t0 = time.monotonic()
        s.handshake(5.0, quiet=1.0)
        assert all(when - t0 >= 1.0 for when in sent)


def test_busy_and_missing_ports_are_clear_errors(harness_exe, tmp_path):
    with start_host_harness(harness_exe, max_seconds=TEST_LIMIT_S, pty=True) as h, open_transport(h.url):
        with pytest.raises(aotgen.AotgenError, match=rf"serial port {h.url} is busy: another program"):
            open_transport(h.url)
    with pytest.raises(aotgen.AotgenError, match=r"serial port /dev/ttyNOSUCH0 does not exist"):
        open_transport("/dev/ttyNOSUCH0")


# ------------------------------------------------------------------------------ wrong peer


def test_no_firmware_answering_is_a_clear_timeout():
    """Something accepts the connection but never speaks the protocol."""
    srv = socket.create_server(("127.0.0.1", 0))
    port = srv.getsockname()[1]
    held = []
    threading.Thread(target=lambda: held.append(srv.accept()), daemon=True).start()
    try:
        with open_transport(f"socket://127.0.0.1:{port}") as t:
            t0 = time.monotonic()
            with pytest.raises(ProtocolError, match=r"no firmware answered on socket://127\.0\.0\.1:\d+ within 1\.5 s"):
                Session(t).handshake(1.5)
            assert time.monotonic() - t0 < 3
    finally:
        for conn, _ in held:
            conn.close()
        srv.close()


def test_banner_for_another_model_is_a_clear_mismatch(device, libs):
    banner = ready_session(device).banner
    other = copy.deepcopy(libs[1])
    other.metadata["outputs"][0]["shape"] = [1, 10]  # a KWS with 10 classes: same name, other sizes
    with pytest.raises(ProtocolError, match=r"firmware runs model hello_world_int8 \(inputs \[1\] B, outputs \[1\] B\), "
                                            r"kws \(inputs \[490\] B, outputs \[12\] B\), expected kws \(inputs \[490\] B, "
                                            r"outputs \[10\] B\)"):
        match_models(banner, [other])
    assert match_models(banner, list(reversed(libs))) == [1, 0]


def test_firmware_built_from_other_libraries_is_refused(device, libs):
    """Same model names and sizes, other code (a recompiled library the firmware was not rebuilt
    with): the identity in the banner tells, and the error names both identities."""
    banner = ready_session(device).banner
    changed = copy.deepcopy(libs)
    changed[1] = dataclasses.replace(changed[1], root=changed[1].root.parent / "kws_changed")
    shutil.copytree(libs[1].root, changed[1].root, dirs_exist_ok=True)
    src = changed[1].sources[0]
    src.write_text(src.read_text() + "\n/* rebuilt */\n")
    with pytest.raises(ProtocolError, match=rf"firmware id {banner.identity.hex()}, this project's libraries give "
                                            rf"{firmware_identity(changed).hex()}\): it is stale or foreign"):
        match_models(banner, changed)
    with pytest.raises(ProtocolError, match=r"runs 2 models \(hello_world_int8, kws\); give the libraries of all"):
        match_models(banner, libs[:1])


def test_banner_of_another_protocol_version_is_a_clear_error(device):
    """The device's real READY, as a future firmware (protocol v3) would send it."""
    link = synced_link(device)
    link.send(Frame(P.HELLO, 9, b""))
    while (f := raw_frame(link)).seq != 9:
        pass
    assert parse_banner(f.payload).version == 2
    with pytest.raises(ProtocolError, match=r"firmware speaks harness protocol v3, this aotgen speaks v2: "
                                            r"regenerate and rebuild the project"):
        parse_banner(b"\x03" + f.payload[1:])
    with pytest.raises(ProtocolError, match=r"malformed READY banner"):
        parse_banner(f.payload[:-3])


def test_device_gone_mid_session_is_an_error_not_a_hang(harness_exe):
    with start_host_harness(harness_exe, max_seconds=TEST_LIMIT_S) as h, open_transport(h.url) as t:
        s = ready_session(t)
        h.stop()
        t0 = time.monotonic()
        with pytest.raises((LinkClosed, ProtocolError)):
            s.run(0)
        assert time.monotonic() - t0 < 5
