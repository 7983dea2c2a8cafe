"""Running external programs: always with a timeout, a missing tool named with its Debian package."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from pathlib import Path

from .errors import ToolFailedError, ToolNotFoundError

# Debian package that provides each tool aotgen runs.
APT_PACKAGES = {
    "gcc": "gcc",
    "make": "make",
    "arm-none-eabi-gcc": "gcc-arm-none-eabi",
    "arm-none-eabi-size": "binutils-arm-none-eabi",
    "arm-none-eabi-nm": "binutils-arm-none-eabi",
    "arm-none-eabi-readelf": "binutils-arm-none-eabi",
    "arm-none-eabi-objcopy": "binutils-arm-none-eabi",
    "qemu-system-arm": "qemu-system-arm",
    "avr-gcc": "gcc-avr",
    "avr-size": "binutils-avr",
    "avr-nm": "binutils-avr",
    "arduino-builder": "arduino-builder",
    "simavr": "simavr",
    "cmake": "cmake",
    "ninja": "ninja-build",
    "dtc": "device-tree-compiler",
    "openocd": "openocd",
    "st-flash": "stlink-tools",
}


def require(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        raise ToolNotFoundError(tool, APT_PACKAGES.get(tool, tool))
    return path


def kill_group(proc: subprocess.Popen, wait_s: float | None = 10.0) -> None:
    """SIGKILL a child started with start_new_session=True and everything it spawned, then reap
    it (up to `wait_s`; None: don't wait, e.g. from a timer thread while another reads its pipe)."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    if wait_s is not None:
        try:
            proc.wait(timeout=wait_s)
        except subprocess.TimeoutExpired:
            pass


def run(cmd: list[str], timeout: float, cwd: str | Path | None = None, input: bytes | None = None,
        what: str | None = None) -> subprocess.CompletedProcess:
    """Run `cmd`, raising AotgenError with the tail of its output if it fails or times out."""
    require(cmd[0])
    what = what or Path(cmd[0]).name
    try:
        proc = subprocess.run(cmd, cwd=cwd, input=input, capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise ToolFailedError(f"{what} did not finish within {timeout:g} s") from None
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).decode(errors="replace").strip().splitlines()[-25:]
        raise ToolFailedError(f"{what} failed (exit {proc.returncode}):\n" + "\n".join(tail))
    return proc
