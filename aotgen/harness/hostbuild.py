"""Build the harness for the host: the device-side C, the generated model table and the model
libraries, with the POSIX TCP platform (project_templates/common/host). The protocol tests run
the real C this way; it also lets the host side be debugged without a board."""

from __future__ import annotations

import os
import re
import select
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from ..errors import AotgenError
from ..verify.hostcheck import HOST_CFLAGS
from ..compiler.mlf import ModelLibrary
from ..toolchain import run
from . import COMMON_DIR, HARNESS_C, HOST_PLATFORM_C
from .cgen import MODELS_C, models_source
from .mlperf import MLPERF_C
from .mlperf.cgen import MODEL_C as MLPERF_MODEL_C
from .mlperf.cgen import model_source as mlperf_model_source
from .mlperf.models import MlperfModel

BUILD_TIMEOUT_S = 300
START_TIMEOUT_S = 10


def build_host_harness(libs: list[ModelLibrary], workdir: Path | None = None,
                       defines: dict[str, int] | None = None, cflags: list[str] | None = None,
                       mlperf: MlperfModel | None = None) -> Path:
    """Compile the host harness for `libs`; returns the executable. `defines` override the
    harness's compile-time settings (e.g. HARNESS_BYTE_TIMEOUT_MS); `cflags` are added (e.g.
    sanitizers). With `mlperf` (how libs[0] meets the runner) it serves the MLPerf Tiny app
    instead of the harness."""
    workdir = Path(workdir or tempfile.mkdtemp(prefix="aotgen-harness-host-"))
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / MODELS_C).write_text(models_source(libs))
    exe = workdir / "harness_host"
    cmd = ["gcc", *HOST_CFLAGS, *(cflags or []), "-I", str(COMMON_DIR)]
    cmd += [f"-D{k}={v}" for k, v in (defines or {}).items()]
    for lib in libs:
        cmd += ["-I", str(lib.include_dir)]
    if mlperf is not None:
        (workdir / MLPERF_MODEL_C).write_text(mlperf_model_source(mlperf))
        cmd += ["-DAOTGEN_HOST_APP_MLPERF", str(MLPERF_C), str(workdir / MLPERF_MODEL_C)]
    else:
        cmd.append(str(HARNESS_C))
    cmd += [str(HOST_PLATFORM_C), str(workdir / MODELS_C)]
    for lib in libs:
        cmd += [str(s) for s in lib.sources] + [str(o) for o in lib.objects]
    cmd += ["-lm", "-o", str(exe)]
    run(cmd, BUILD_TIMEOUT_S, what="gcc (host harness build)")
    return exe


@dataclass
class HostHarness:
    """A running host harness process; stop() (or the context manager) always ends it."""

    proc: subprocess.Popen
    url: str  # socket://127.0.0.1:PORT, or a pty's device path

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)
        for f in (self.proc.stdout, self.proc.stderr):
            if f:
                f.close()

    def __enter__(self) -> "HostHarness":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def start_host_harness(exe: Path, max_seconds: int = 120, pty: bool = False) -> HostHarness:
    """Start the host harness on a free TCP port (or a new pty) and return once it listens."""
    proc = subprocess.Popen([str(exe), "pty" if pty else "0", str(max_seconds)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    # The first stdout line is "port N"; read it with a deadline (the process could die).
    deadline = time.monotonic() + START_TIMEOUT_S
    line = b""
    while time.monotonic() < deadline and not line.endswith(b"\n"):
        ready, _, _ = select.select([proc.stdout], [], [], 0.1)
        if ready:
            ch = os.read(proc.stdout.fileno(), 64)  # unbuffered: select() must see what is left
            if not ch:
                break
            line += ch
    m = re.fullmatch(rb"(port|pty) (\S+)\n", line)
    if not m:
        proc.kill()
        _, err = proc.communicate(timeout=10)
        raise AotgenError(f"host harness {exe} did not start: {err.decode(errors='replace').strip()[-500:]}")
    where = m.group(2).decode()
    return HostHarness(proc, f"socket://127.0.0.1:{where}" if m.group(1) == b"port" else where)
