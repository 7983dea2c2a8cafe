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
from .reference import NAMES, check_expected_options, choose_reference
from ..toolchain import run
from .compare import CheckReport, compare_samples

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
    actual = build_host_executable(lib, workdir).run(samples)
    return compare_samples(lib.metadata["model"]["file"], reference_name(lib), lib.outputs, actual, reference,
                           atol, rtol), actual


def reference_name(lib: ModelLibrary) -> str:
    """The default reference interpreter's name for `lib`'s model format."""
    return NAMES["onnxruntime" if lib.metadata["model"]["format"] == "onnx" else "litert"]


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
                progress: Callable[[str], None] | None = None, reference: str = "auto",
                expected_files: Sequence[str | Path] = (), **compile_options) -> ModelCheck:
    """Compile `model` into a temporary folder, run `count` seeded random samples plus the .npy
    `input_files` on the host and compare each with the live reference interpreter (`reference`,
    see verify.reference.REFERENCES), or with `expected_files`, the input files' saved outputs.

    `compile_options` go to aotgen.compile (backend, workspace, io_in_arena), so the check covers
    the variant that will ship; the target is always the host."""
    from ..compiler.pipeline import compile as compile_model  # late: it imports TVM, which the rest of this module never needs

    say = progress or (lambda _msg: None)
    if expected_files:  # usage errors, before compiling
        check_expected_options(count, reference)
    else:
        choose_reference(model, reference)
    with tempfile.TemporaryDirectory(prefix="aotgen-check-") as tmp:
        lib = compile_model(model, Path(tmp) / "mlf", prefix=prefix, progress=say, **compile_options).library
        return check_library(lib, input_files, count, seed, atol, rtol, progress, Path(tmp), reference, expected_files)


def check_library(lib: ModelLibrary, input_files: Sequence[str | Path] = (), count: int = 5, seed: int = 0,
                  atol: float | None = None, rtol: float | None = None,
                  progress: Callable[[str], None] | None = None, workdir: Path | None = None,
                  reference: str = "auto", expected_files: Sequence[str | Path] = ()) -> ModelCheck:
    """The same check on an already compiled library (folder or tarball): exactly what ships. The
    reference runs on the model the library keeps in src/, after the host run: if it cannot run,
    NoReferenceError carries the host's outputs."""
    from .reference import EXPECTED, ReferenceRun, keeping_outputs, reference_outputs
    from .compare import load_expected, load_inputs, random_inputs

    say = progress or (lambda _msg: None)
    from_files = load_inputs(list(input_files), lib.inputs)
    expected = None
    if expected_files:
        check_expected_options(count, reference)
        expected = ReferenceRun(EXPECTED, load_expected(list(expected_files), lib.outputs, len(from_files)))
    elif lib.model_file is not None:
        choose_reference(lib.model_file, reference)
    samples = random_inputs(lib.inputs, count, seed) + from_files
    say("building and running the generated code on the host")
    with contextlib.ExitStack() as cleanup:
        if workdir is None:
            workdir = Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix="aotgen-check-")))
        outputs = build_host_executable(lib, workdir).run(samples)
    with keeping_outputs([("", samples, outputs)]):
        if expected is None:
            if lib.model_file is None:
                raise AotgenError(f"{lib.root} does not contain its source model (src/), so there is no reference "
                                  "to run (compare with saved outputs: --expected)")
            say(f"running the reference interpreter on {len(samples)} samples")
        ref = expected or reference_outputs(lib.model_file, samples, reference)
    report = compare_samples(lib.metadata["model"]["file"], ref.name, lib.outputs, outputs, ref.outputs, atol, rtol,
                             note=ref.note)
    return ModelCheck(report, lib.metadata, samples, outputs, ref.outputs, len(from_files))
