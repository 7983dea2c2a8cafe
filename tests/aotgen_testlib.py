"""Helpers shared by the compile/check-host tests: where the models are, ONNX models built from
scratch, C programs that link several generated libraries, and subprocesses with timeouts."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np

from aotgen import ModelLibrary

REPO = Path(__file__).resolve().parents[1]
# The published models the tests use, shipped in the repository (tests/models/README.md).
MODELS = REPO / "tests" / "models"
# The project's shared folder beside the clone (optional): a few more models in models/more/.
SHARED = Path(os.environ.get("AOTGEN_SHARED", REPO.parent / "shared"))
MORE_MODELS = SHARED / "models" / "more"

# name -> path under tests/models; every one has io/<name>/{input_0,output_0}.npy (litert_ref).
FLOAT_MODELS = {
    "hello_world_float": "tflite_micro/hello_world_float.tflite",
    "pretrainedResnet": "mlperf_tiny/pretrainedResnet.tflite",
    "vww_96_float": "mlperf_tiny/vww_96_float.tflite",
    "ad01_fp32": "mlperf_tiny/ad01_fp32.tflite",
}
INT8_MODELS = {
    "hello_world_int8": "tflite_micro/hello_world_int8.tflite",
    "kws_ref_model": "mlperf_tiny/kws_ref_model.tflite",
    "vww_96_int8": "mlperf_tiny/vww_96_int8.tflite",
    "pretrainedResnet_quant": "mlperf_tiny/pretrainedResnet_quant.tflite",
    "ad01_int8": "mlperf_tiny/ad01_int8.tflite",
}
TFLITE_MODELS = {**FLOAT_MODELS, **INT8_MODELS}
DYNAMIC_RANGE_MODEL = "mlperf_tiny/kws_ref_model_float32.tflite"

# The bounds, spelled out here so a change of the library's defaults cannot loosen them.
FLOAT_RTOL = 1e-4
INT8_ATOL = 2

TOOL_TIMEOUT_S = 300
AOTGEN = str(Path(sys.executable).parent / "aotgen")  # the console script of this venv


def model_path(name: str) -> Path:
    return MODELS / TFLITE_MODELS[name]


def saved_pair(name: str) -> tuple[Path, np.ndarray]:
    """The saved reference pair: input_0.npy (path) and output_0.npy (= ai-edge-litert reference kernels)."""
    rel = Path(TFLITE_MODELS[name])
    io = MODELS / rel.parent / "io" / rel.stem
    return io / "input_0.npy", np.load(io / "output_0.npy")


def run(cmd: list[str], timeout: float = TOOL_TIMEOUT_S, **kw) -> subprocess.CompletedProcess:
    """Run a tool, failing the test with its full output (not just an exit code) on error."""
    proc = subprocess.run(cmd, capture_output=True, timeout=timeout, **kw)
    if proc.returncode != 0:
        out = (proc.stdout + proc.stderr).decode(errors="replace") if isinstance(proc.stdout, bytes) \
            else proc.stdout + proc.stderr
        raise AssertionError(f"{' '.join(map(str, cmd))} failed with exit {proc.returncode}:\n{out[-6000:]}")
    return proc


# ------------------------------------------------------------------ several models in one program


def multi_model_main(libs: list[ModelLibrary], shared_workspace: bool = False) -> str:
    """A C main running each library in turn on inputs read from stdin (raw bytes, library by
    library, input by input) and writing all outputs to stdout, until stdin ends.

    With `shared_workspace`, every library (compiled with --workspace user) gets the same buffer,
    sized for the largest, so each run overwrites the others' intermediates."""
    lines = ["#include <stdio.h>", "#include <stdint.h>"]
    lines += [f'#include "{lib.prefix}.h"' for lib in libs]
    lines.append("")
    if shared_workspace:
        sizes = [f"{lib.prefix.upper()}_WORKSPACE_SIZE" for lib in libs]
        expr = sizes[0]
        for s in sizes[1:]:
            expr = f"(({expr}) > ({s}) ? ({expr}) : ({s}))"
        lines.append(f"static uint8_t shared_ws[{expr}] __attribute__((aligned(64)));")
    for k, lib in enumerate(libs):
        P = lib.prefix.upper()
        for i, t in enumerate(lib.inputs):
            lines.append(f"static {t.c_type} m{k}_in{i}[{P}_{t.c_name.upper()}_SIZE / sizeof({t.c_type})];")
        for i, t in enumerate(lib.outputs):
            lines.append(f"static {t.c_type} m{k}_out{i}[{P}_{t.c_name.upper()}_SIZE / sizeof({t.c_type})];")
    lines += ["", "int main(void) {"]
    for k, lib in enumerate(libs):
        p = lib.prefix
        lines.append(f"  struct {p}_inputs m{k}_inputs = {{{', '.join(f'm{k}_in{i}' for i in range(len(lib.inputs)))}}};")
        lines.append(f"  struct {p}_outputs m{k}_outputs = {{{', '.join(f'm{k}_out{i}' for i in range(len(lib.outputs)))}}};")
        if shared_workspace:
            lines.append(f"  if ({p}_set_workspace(shared_ws, sizeof(shared_ws)) != 0) return 3;")
    lines.append("  for (;;) {")
    for k, lib in enumerate(libs):
        for i in range(len(lib.inputs)):
            lines.append(f"    if (fread(m{k}_in{i}, 1, sizeof(m{k}_in{i}), stdin) != sizeof(m{k}_in{i})) return 0;")
        lines.append(f"    if ({lib.prefix}_run(&m{k}_inputs, &m{k}_outputs) != 0) return 2;")
        for i in range(len(lib.outputs)):
            lines.append(f"    fwrite(m{k}_out{i}, 1, sizeof(m{k}_out{i}), stdout);")
    lines += ["  }", "}", ""]
    return "\n".join(lines)


def build_program(libs: list[ModelLibrary], main_c: str, workdir: Path, name: str = "prog") -> Path:
    src = workdir / f"{name}.c"
    src.write_text(main_c)
    exe = workdir / name
    cmd = ["gcc", "-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", str(src)]
    for lib in libs:
        cmd += ["-I", str(lib.include_dir), *map(str, lib.sources), *map(str, lib.objects)]
    run(cmd + ["-lm", "-o", str(exe)])
    return exe


def run_program(exe: Path, libs: list[ModelLibrary], samples: list[list[list[np.ndarray]]]) -> list[list[list[np.ndarray]]]:
    """samples[lib][sample] -> outputs[lib][sample]; every library gets the same number of samples."""
    n = len(samples[0])
    stdin = b"".join(
        np.ascontiguousarray(x, dtype=t.dtype).tobytes()
        for s in range(n) for lib, lib_samples in zip(libs, samples) for x, t in zip(lib_samples[s], lib.inputs)
    )
    data = run([str(exe)], input=stdin).stdout
    outputs: list[list[list[np.ndarray]]] = [[] for _ in libs]
    pos = 0
    for _ in range(n):
        for k, lib in enumerate(libs):
            outs = []
            for t in lib.outputs:
                outs.append(np.frombuffer(data[pos : pos + t.nbytes], dtype=t.dtype).reshape(t.shape))
                pos += t.nbytes
            outputs[k].append(outs)
    assert pos == len(data), f"program wrote {len(data)} bytes, expected {pos}"
    return outputs


@contextlib.contextmanager
def time_limit(seconds: int):
    """Fail the enclosed code (a test) with TimeoutError after `seconds` instead of hanging CI."""
    def expire(*_):
        raise TimeoutError(f"test exceeded {seconds} s")
    old = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
