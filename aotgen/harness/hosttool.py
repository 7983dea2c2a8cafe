"""Small host programs aotgen ships as C source (the simavr bridge, the QEMU counting plugin),
compiled with the host gcc on first use into the user's cache folder, named by the source's hash
so that a changed source rebuilds."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from ..errors import AotgenError, ToolNotFoundError

BUILD_TIMEOUT_S = 120.0


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "aotgen"


def build_host_tool(source: Path, name: str, flags: list[str], what: str, apt_hint: str = "") -> Path:
    """The compiled `source` (gcc `flags`, placed after the source: libraries), built now if
    missing. `apt_hint` is the Debian package to name when the build fails for want of it."""
    digest = hashlib.sha256(source.read_bytes()).hexdigest()[:12]
    out = cache_dir() / f"{name}-{digest}"
    if out.is_file():
        return out
    gcc = shutil.which("gcc")
    if gcc is None:
        raise ToolNotFoundError("gcc", "gcc")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError:  # no writable home (some CI runners): a per-user temp folder
        out = Path(tempfile.gettempdir()) / f"aotgen-{os.getuid()}" / out.name
        if out.is_file():
            return out
        out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}")
    cmd = [gcc, "-O2", str(source), *flags, "-o", str(tmp)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise AotgenError(f"building {what} did not finish within {BUILD_TIMEOUT_S:g} s") from None
    if proc.returncode != 0:
        tmp.unlink(missing_ok=True)
        hint = f" (install {apt_hint})" if apt_hint else ""
        raise AotgenError(f"building {what} failed{hint}:\n{proc.stderr.strip()[-2000:]}")
    os.replace(tmp, out)  # atomic: a concurrent first use sees the old state or the whole file
    return out
