"""Malformed MLPerf Tiny commands and the e- line each must get (the device side must refuse
them all and stay sound), shared by the host (AddressSanitizer) and QEMU tests."""

from __future__ import annotations

import re
import time

from aotgen.harness.mlperf.link import MlperfLink

# (bytes sent, a fragment of the e- line), on a device that has loaded nothing yet.
BEFORE_LOAD = [
    (b"%", "Empty command"),
    (b"   \t %", "Empty command"),
    (b"x" * 81 + b"%", "longer than 80"),
    (b"db " + b"ab" * 300 + b"%", "longer than 80"),
    (b"na\x01me%", "not printable"),
    (b"\xff\xfe%", "not printable"),
    (b"nmae%", "Unknown command: nmae"),
    (b"name now%", "takes no arguments"),
    (b"a b c d e f%", "Too many words"),
    (b"db%", "needs a subcommand"),
    (b"db 00%", "db load N first"),
    (b"db print%", "nothing loaded"),
    (b"db load 0%", "at least 1"),
    (b"db load -1%", "Usage: db load"),
    (b"db load 4294967296%", "Usage: db load"),
    (b"db load 99999999%", "do not fit"),
    (b"infer 0%", "N must be at least 1"),
    (b"infer 1 x%", "Usage: infer"),
    (b"infer 1 2 3%", "Usage: infer"),
    (b"infer 1 0%", "load one sample first"),
    (b"results%", "No results"),
]


def after_load(size: int) -> list[tuple[bytes, str]]:
    """Once a `size`-byte sample is fully loaded."""
    return [
        (b"db 0g%", "not a hex digit"),
        (b"db abc%", "odd number"),
        (b"db 00%", "announced bytes are left"),
        (f"db print 1 {size}%".encode(), "beyond"),
        (f"db print {size + 1}%".encode(), "beyond"),
    ]


def send_raw(link: MlperfLink, data: bytes, timeout: float = 5.0) -> list[str]:
    """Write bytes as they are; the lines up to m-ready."""
    link.transport.write(data)
    deadline = time.monotonic() + timeout
    lines = []
    while (line := link.read_line(deadline)) is not None:
        if line == "m-ready":
            return lines
        lines.append(line)
    raise AssertionError(f"no m-ready after {data[:40]!r}; got {lines}")


def check_refusals(link: MlperfLink, cases: list[tuple[bytes, str]]) -> None:
    for data, fragment in cases:
        lines = send_raw(link, data)
        assert len(lines) == 1 and re.fullmatch(r"e-\[.+\]", lines[0]) and fragment in lines[0], (data[:40], lines)
