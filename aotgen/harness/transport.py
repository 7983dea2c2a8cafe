"""One byte-stream interface over pyserial for real ports and QEMU's serial-over-TCP alike.

`serial.serial_for_url` opens both `/dev/ttyACM0` and `socket://127.0.0.1:PORT`; every read here
has a deadline, so nothing above this layer can block forever.
"""

from __future__ import annotations

import errno
import time

import serial
import serial.tools.list_ports

from ..errors import DeviceFailure

DEFAULT_BAUD = 115200
# Reads poll in slices this long, so a deadline is honoured within this much.
_POLL_S = 0.02


class LinkClosed(DeviceFailure):
    """The other end went away (QEMU exited, cable pulled)."""


class Transport:
    """An open serial line. read() returns what arrived before the timeout (maybe nothing)."""

    def __init__(self, port: serial.SerialBase, name: str):
        self.port = port
        self.name = name

    def write(self, data: bytes) -> None:
        try:
            self.port.write(data)
            self.port.flush()
        except serial.SerialTimeoutException:
            raise DeviceFailure(f"{self.name}: write timed out (is the device stalled?)") from None
        except (serial.SerialException, OSError) as e:
            raise LinkClosed(f"{self.name}: connection lost while writing ({e})") from None

    def read(self, n: int, timeout: float) -> bytes:
        deadline = time.monotonic() + max(timeout, 0.0)
        buf = bytearray()
        while len(buf) < n:
            try:
                buf += self.port.read(n - len(buf))
            except (serial.SerialException, OSError) as e:
                raise LinkClosed(f"{self.name}: connection lost ({e})") from None
            if time.monotonic() >= deadline:
                break
        return bytes(buf)

    def close(self) -> None:
        try:
            self.port.close()
        except (serial.SerialException, OSError):
            pass

    def __enter__(self) -> "Transport":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def open_transport(url: str, baudrate: int = DEFAULT_BAUD, write_timeout: float = 10.0) -> Transport:
    """Open a serial port path or a pyserial URL (socket://host:port, loop://, rfc2217://)."""
    kwargs = {"baudrate": baudrate, "timeout": _POLL_S, "write_timeout": write_timeout}
    if "://" not in url:
        kwargs["exclusive"] = True  # a second reader would steal frames; fail fast instead
    if url.startswith("rfc2217://"):  # pyserial's RFC 2217 client refuses a write timeout; its socket has one (5 s)
        del kwargs["write_timeout"]
    try:
        port = serial.serial_for_url(url, **kwargs)
    except serial.SerialException as e:
        raise DeviceFailure(_open_error(url, e)) from None
    except (OSError, ValueError) as e:
        raise DeviceFailure(f"cannot open serial port {url}: {e}") from None
    return Transport(port, url)


def _open_error(url: str, e: serial.SerialException) -> str:
    text = str(e)
    err = getattr(e, "errno", None)
    if err == errno.ENOENT or "No such file" in text:
        return f"serial port {url} does not exist (is the board plugged in? see `aotgen test --port`)"
    if err == errno.EBUSY or "exclusively lock" in text or "busy" in text.lower():
        return f"serial port {url} is busy: another program (a terminal, another aotgen) has it open"
    if err == errno.EACCES or "Permission denied" in text:
        return f"no permission to open {url}: add yourself to the 'dialout' group"
    if url.startswith("socket://"):
        return f"cannot connect to {url}: {text}"
    return f"cannot open serial port {url}: {text}"


def find_port(vid: int, pid: int) -> str:
    """The one serial port whose USB VID:PID matches the board file's; errors if none or several."""
    hits = [p.device for p in serial.tools.list_ports.comports() if p.vid == vid and p.pid == pid]
    if not hits:
        raise DeviceFailure(f"no serial port with USB id {vid:04x}:{pid:04x} found; is the board connected? "
                          "Give the port with --port")
    if len(hits) > 1:
        raise DeviceFailure(f"several serial ports match USB id {vid:04x}:{pid:04x} ({', '.join(hits)}); "
                          "choose one with --port")
    return hits[0]
