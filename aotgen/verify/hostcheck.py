"""`aotgen check-host`: compile the generated C with the host gcc, run it, compare with the reference.

The executable reads each sample's inputs (raw bytes, in input order) from stdin, runs the model
and writes the raw outputs to stdout, until stdin ends.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import AotgenError
from ..compiler.mlf import ModelLibrary
from .reference import reference_name as interpreter_name
from ..toolchain import run
from .compare import CheckReport, SampleCheck, compare_output

HOST_CFLAGS = ["-std=c99", "-O2", "-Wall", "-Wextra", "-Werror"]
BUILD_TIMEOUT_S = 600
RUN_TIMEOUT_S = 600


def host_main_source(lib: ModelLibrary) -> str:
    p, P = lib.prefix, lib.prefix.upper()
    lines = ["#include <stdio.h>", f'#include "{p}.h"', ""]
    for i, t in enumerate(lib.inputs):
        lines.append(f"static {t.c_type} in{i}[{P}_{t.c_name.upper()}_SIZE / sizeof({t.c_type})];")
    for i, t in enumerate(lib.outputs):
        lines.append(f"static {t.c_type} out{i}[{P}_{t.c_name.upper()}_SIZE / sizeof({t.c_type})];")
    if lib.metadata["options"]["workspace"] == "user":
        lines.append(f"static uint8_t workspace[{P}_WORKSPACE_SIZE + 1] __attribute__((aligned({P}_WORKSPACE_ALIGNMENT)));")
    lines += ["", "int main(void) {"]
    lines.append(f"  struct {p}_inputs inputs = {{{', '.join(f'in{i}' for i in range(len(lib.inputs)))}}};")
    lines.append(f"  struct {p}_outputs outputs = {{{', '.join(f'out{i}' for i in range(len(lib.outputs)))}}};")
    if lib.metadata["options"]["workspace"] == "user":
        lines.append(f"  if ({p}_set_workspace(workspace, sizeof(workspace)) != 0) return 3;")
    lines.append("  for (;;) {")
    for i in range(len(lib.inputs)):
        lines.append(f"    if (fread(in{i}, 1, sizeof(in{i}), stdin) != sizeof(in{i})) return 0;")
    if not lib.inputs:  # a model without inputs (constants only): one byte per sample, or it never ends
        lines.append("    if (getchar() == EOF) return 0;")
    lines.append(f"    int32_t rc = {p}_run(&inputs, &outputs);")
    lines.append('    if (rc != 0) { fprintf(stderr, "run failed: %d\\n", (int)rc); return 2; }')
    for i in range(len(lib.outputs)):
        lines.append(f"    fwrite(out{i}, 1, sizeof(out{i}), stdout);")
    lines += ["    fflush(stdout);", "  }", "}", ""]
    return "\n".join(lines)


@dataclass
class HostExecutable:
    library: ModelLibrary
    path: Path

    def run(self, samples: list[list[np.ndarray]]) -> list[list[np.ndarray]]:
        lib = self.library
        stdin = b"".join(np.ascontiguousarray(x, dtype=t.dtype).tobytes()
                         for sample in samples for x, t in zip(sample, lib.inputs))
        if not lib.inputs:
            stdin = b"\0" * len(samples)  # the sample marker host_main_source reads
        proc = run([str(self.path)], RUN_TIMEOUT_S, input=stdin, what=f"host build of '{lib.prefix}'")
        data, pos, results = proc.stdout, 0, []
        for _ in samples:
            outs = []
            for t in lib.outputs:
                outs.append(np.frombuffer(data[pos : pos + t.nbytes], dtype=t.dtype).reshape(t.shape).copy())
                pos += t.nbytes
            results.append(outs)
        return results


def build_host_executable(lib: ModelLibrary, workdir: Path | None = None) -> HostExecutable:
    workdir = Path(workdir or tempfile.mkdtemp(prefix=f"aotgen-host-{lib.prefix}-"))
    main_c = workdir / "main.c"
    main_c.write_text(host_main_source(lib))
    exe = workdir / lib.prefix
    cmd = ["gcc", *HOST_CFLAGS, "-I", str(lib.include_dir), str(main_c), *map(str, lib.sources), *map(str, lib.objects), "-lm", "-o", str(exe)]
    run(cmd, BUILD_TIMEOUT_S, what="gcc (host build)")
    return HostExecutable(lib, exe)


def check_on_host(lib: ModelLibrary, samples: list[list[np.ndarray]], reference: list[list[np.ndarray]],
                  atol: float | None = None, rtol: float | None = None,
                  workdir: Path | None = None) -> tuple[CheckReport, list[list[np.ndarray]]]:
    """Build and run the library on the host; compare each sample with its reference outputs."""
    exe = build_host_executable(lib, workdir)
    actual = exe.run(samples)
    report = CheckReport(model=lib.metadata["model"]["file"], reference=reference_name(lib))
    for i, (got, want) in enumerate(zip(actual, reference)):
        report.samples.append(SampleCheck(i, [compare_output(a, e, t, atol, rtol)
                                              for a, e, t in zip(got, want, lib.outputs)]))
    return report, actual


def reference_name(lib: ModelLibrary) -> str:
    return interpreter_name(lib.metadata["model"]["format"] == "onnx")


# ------------------------------------------------------------------ one-call check (check-host CLI)


@dataclass
class ModelCheck:
    """Everything one host check produced. Random samples come first, then the --inputs files."""

    report: CheckReport
    metadata: dict  # the checked library's metadata.json (check_model's library was temporary)
    samples: list[list[np.ndarray]]
    outputs: list[list[np.ndarray]]
    reference: list[list[np.ndarray]]
    file_samples: int  # how many of the samples (the last ones) came from input files


def check_model(model: str | Path, input_files: Sequence[str | Path] = (), count: int = 5, seed: int = 0,
                atol: float | None = None, rtol: float | None = None, prefix: str | None = None,
                progress: Callable[[str], None] | None = None, **compile_options) -> ModelCheck:
    """Compile `model` into a temporary folder, run `count` seeded random samples plus the .npy
    `input_files` on the host and compare each with the live reference interpreter.

    `compile_options` go to aotgen.compile (backend, workspace, io_in_arena), so the check covers
    the variant that will ship; the target is always the host."""
    from ..compiler.pipeline import compile as compile_model  # late: it imports TVM, which the rest of this module never needs

    say = progress or (lambda _msg: None)
    with tempfile.TemporaryDirectory(prefix="aotgen-check-") as tmp:
        lib = compile_model(model, Path(tmp) / "mlf", prefix=prefix, progress=say, **compile_options).library
        return check_library(lib, input_files, count, seed, atol, rtol, progress, Path(tmp))


def check_library(lib: ModelLibrary, input_files: Sequence[str | Path] = (), count: int = 5, seed: int = 0,
                  atol: float | None = None, rtol: float | None = None,
                  progress: Callable[[str], None] | None = None, workdir: Path | None = None) -> ModelCheck:
    """The same check on an already compiled library (folder or tarball): exactly what ships. The
    reference runs on the model the library keeps in src/."""
    from .reference import run_reference
    from .compare import load_inputs, random_inputs

    say = progress or (lambda _msg: None)
    model = lib.model_file
    if model is None:
        raise AotgenError(f"{lib.root} does not contain its source model (src/), so there is no reference to run")
    from_files = load_inputs(list(input_files), lib.inputs)
    samples = random_inputs(lib.inputs, count, seed) + from_files
    say(f"running the reference interpreter on {len(samples)} samples")
    reference = run_reference(model, samples)
    say("building and running the generated code on the host")
    with contextlib.ExitStack() as cleanup:
        if workdir is None:
            workdir = Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix="aotgen-check-")))
        report, outputs = check_on_host(lib, samples, reference, atol, rtol, workdir=workdir)
    return ModelCheck(report, lib.metadata, samples, outputs, reference, len(from_files))
