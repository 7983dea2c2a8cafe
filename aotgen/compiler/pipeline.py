"""`aotgen.compile`: model file -> Model Library Format, the pipeline's front door."""

from __future__ import annotations

import contextlib
import json
import keyword
import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import tvm

from ..version import __version__
from . import c_helpers
from .emit import CFunction, EmitOptions, emit_header, emit_library, parse_kernel_source
from ..errors import AotgenError, UnsupportedModelError
from .diagnose import failing_layer
from .frontend import ImportedModel, load_model
from .model_check import first_line
from .graph import Graph, TensorKind
from .kernels import build_c, c_params, has_dsp, tir_text
from . import llvm_helpers
from .llvm_build import build_llvm_objects, calls_a_c_kernel
from .lower import lower
from ..outputs import publish, refuse_overwrite, staging_dir
from .mlf import SCHEMA_VERSION, ModelLibrary, load
from .plan import plan_memory
from .quantized.fc_call import c_kernels
from .quantized.gemm_call import gemm_kernels
from .targets import get_cpu, tvm_target

C_KEYWORDS = set(
    "auto break case char const continue default do double else enum extern float for goto if inline int "
    "long register restrict return short signed sizeof static struct switch typedef union unsigned void "
    "volatile while _Bool _Complex _Imaginary".split()
)

Progress = Callable[[str], None]


def validate_prefix(prefix: str) -> str:
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,31}", prefix or "") or prefix in C_KEYWORDS:
        raise AotgenError(
            f"invalid prefix {prefix!r}: it must be a C identifier (letters, digits, '_', not starting "
            "with a digit, at most 32 characters, not a C keyword)"
        )
    return prefix


def default_prefix(model_path: str | Path) -> str:
    stem = re.sub(r"[^0-9A-Za-z_]", "_", Path(model_path).stem).lower() or "model"
    stem = "m_" + stem if stem[0].isdigit() else stem
    return stem[:32] if stem not in C_KEYWORDS and not keyword.iskeyword(stem) else stem + "_model"


@dataclass
class CompileResult:
    library: ModelLibrary
    path: Path  # the folder or tarball written
    seconds: float
    timings: dict[str, float] = field(default_factory=dict)

    def summary(self) -> dict:
        m = self.library.metadata
        return {
            "output": str(self.path),
            "prefix": m["prefix"],
            "operators": len(m["operators"]),
            "kernels": len(m["kernels"]),
            "constant_bytes": m["constant_bytes"],
            "workspace_bytes": m["workspace_bytes"],
            "workspace_lower_bound": m["memory"]["lower_bound_bytes"],
            "seconds": round(self.seconds, 2),
        }


@contextlib.contextmanager
def _native_stderr_kept_back() -> Iterator[Callable[[], str]]:
    """Hold back what native code (TVM's C++ logging) writes to file descriptor 2, so that a
    failure stays one line; the caller decides whether to pass it on."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as held:
        os.dup2(held.fileno(), 2)
        try:
            yield lambda: (held.seek(0), held.read().decode(errors="replace"))[1]
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)


@contextlib.contextmanager
def _tvm_step(imported: ImportedModel, verb: str, alone: Callable[[tvm.IRModule], object]) -> Iterator[None]:
    """A failure inside a compile step, as one line naming the model, the step and, when one
    operator call fails the step alone (`alone` redoes the step on a one-call module), its layer."""
    failure: Exception | None = None
    with _native_stderr_kept_back() as noise:
        try:
            yield
        except Exception as e:
            failure = e
            culprit = failing_layer(imported, alone)  # TVM's warnings meanwhile are noise: dropped
        else:
            warnings = noise()
    if failure is None:
        sys.stderr.write(warnings)  # TVM's warnings of a step that worked: passed on
        return
    name = imported.path.name
    if culprit is not None:
        raise UnsupportedModelError(f"{name}: {culprit.replace(': ', f' could not be {verb}: ', 1)}") from failure
    if isinstance(failure, AotgenError):
        raise failure
    raise UnsupportedModelError(f"{name}: the model could not be {verb}: {first_line(failure)}") from failure


def _calls(graph: Graph, macs: dict[str, int]) -> list[dict]:
    """Each call of <prefix>_run: its kernel ("" for a copy), the tensor it writes, its MACs."""
    out = []
    for call in graph.calls:
        written = graph.tensors[next(a for a, ro in zip(call.args, call.read_only) if not ro)]
        out.append({"kernel": call.kernel, "output": {"shape": list(written.shape), "dtype": written.dtype},
                    "macs": macs.get(call.kernel, 0)})
    return out


def compile(  # noqa: A001 - the natural name for the package's main verb
    model: str | Path,
    output: str | Path | None = None,
    prefix: str | None = None,
    target: str = "host",
    backend: str = "c",
    workspace: str = "static",
    io_in_arena: bool = False,
    force: bool = False,
    progress: Progress | None = None,
) -> CompileResult:
    """Compile a .tflite or .onnx model to a Model Library Format folder (or .tar) at `output`.

    Without `output`, the library goes to a new temporary folder. `workspace="user"` makes the
    caller provide the arena (`<prefix>_set_workspace`); `io_in_arena` places the model's inputs and
    outputs inside the arena too (smallest total RAM; the header exposes their buffers).
    """
    say = progress or (lambda _msg: None)
    start = time.monotonic()
    timings: dict[str, float] = {}
    prefix = validate_prefix(prefix if prefix is not None else default_prefix(model))
    if workspace not in ("static", "user"):
        raise AotgenError(f"unknown workspace mode {workspace!r}: use 'static' or 'user'")
    cpu = get_cpu(target)
    dest = Path(output) if output is not None else Path(tempfile.mkdtemp(prefix=f"aotgen-{prefix}-")) / prefix
    refuse_overwrite(dest, force)  # before any work, not only at publish time

    def step(name: str, message: str):
        say(message)
        timings[name] = time.monotonic()

    def done(name: str):
        timings[name] = round(time.monotonic() - timings[name], 3)

    step("import", f"importing {Path(model).name}")
    target_obj = tvm.target.Target(tvm_target(cpu, backend))
    # kernels call the C helpers as <prefix>_<name>; convolutions become GEMM calls on DSP cores
    with c_helpers.symbol_prefix(prefix), gemm_kernels(has_dsp(target_obj)), \
            c_kernels(not cpu.flash_qualifier):
        imported = load_model(model)
    done("import")
    step("lower", f"lowering {len(imported.operators)} operators with TVM")

    def lower_alone(mod: tvm.IRModule):
        with c_helpers.symbol_prefix(prefix):
            return lower(mod, prefix, target_obj)

    with c_helpers.symbol_prefix(prefix), _tvm_step(imported, "lowered", lower_alone):
        lowered = lower(imported.mod, prefix, target_obj)
    done("lower")
    step("codegen", f"generating {'C' if backend == 'c' else 'LLVM object code'} for {len(lowered.kernels)} kernels")
    if backend == "c":
        with _tvm_step(imported, "generated as C", lambda mod: build_c(lower_alone(mod).kernels, target_obj)):
            kernel_source = build_c(lowered.kernels, target_obj)
        functions = parse_kernel_source(kernel_source)
        helpers_c = c_helpers.used_by(kernel_source, prefix)
    else:
        # Kernels go into object files; the C glue declares them and defines the helpers. A kernel
        # that only calls a C micro-kernel is C in the glue (llvm_build.calls_a_c_kernel).
        in_c = [k for k in lowered.kernels if calls_a_c_kernel(k)]
        llvm_kernels = [k for k in lowered.kernels if k not in in_c]
        c_target = tvm.target.Target(tvm_target(cpu, "c"))
        in_c_alone = lambda mod: build_c([k for k in lower_alone(mod).kernels if calls_a_c_kernel(k)], c_target)  # noqa: E731
        with _tvm_step(imported, "generated as C", in_c_alone):
            kernel_source = build_c(in_c, c_target) if in_c else ""
        by_name = {f.name: f for f in parse_kernel_source(kernel_source)} if in_c else {}
        functions = [by_name.get(k.symbol) or CFunction(k.symbol, c_params(k), None) for k in lowered.kernels]
        helpers_c = c_helpers.used_by(kernel_source + tir_text(llvm_kernels), prefix, external=True,
                                      provided=llvm_helpers.INLINED, linked_source=tir_text(llvm_kernels))
    done("codegen")
    step("emit", "planning memory and writing the library")
    graph = lowered.graph
    plan = plan_memory(graph, io_in_arena=io_in_arena)
    opts = EmitOptions(prefix=prefix, workspace=workspace, io_in_arena=io_in_arena,
                       flash_qualifier=cpu.flash_qualifier)
    header = emit_header(imported.signature, plan, opts)
    library_c = emit_library(functions, helpers_c, graph, plan, imported.signature, opts)

    staging = staging_dir(dest)
    try:
        inc = staging / "codegen" / "host" / "include"
        src = staging / "codegen" / "host" / "src"
        inc.mkdir(parents=True)
        src.mkdir(parents=True)
        (inc / f"{prefix}.h").write_text(header)
        (src / f"{prefix}_lib0.c").write_text(library_c)
        objects = []
        if backend == "llvm":
            lib_dir = staging / "codegen" / "host" / "lib"
            lib_dir.mkdir()
            def llvm_alone(mod: tvm.IRModule):
                with tempfile.TemporaryDirectory() as tmp:
                    kernels = [k for k in lower_alone(mod).kernels if not calls_a_c_kernel(k)]
                    return build_llvm_objects(kernels, tvm_target(cpu, backend), Path(tmp), prefix)

            with _tvm_step(imported, "built as LLVM objects", llvm_alone):
                kernel_objects = build_llvm_objects(llvm_kernels, tvm_target(cpu, backend), lib_dir, prefix)
            objects = [str(o.path.relative_to(staging)) for o in kernel_objects]
        (staging / "memory_plan.txt").write_text(plan.report(graph))
        (staging / "ir").mkdir()
        (staging / "ir" / "imported.txt").write_text(imported.mod.script(show_meta=False))
        (staging / "ir" / "lowered.txt").write_text(lowered.lowered_ir)
        (staging / "src").mkdir()
        shutil.copy2(imported.path, staging / "src" / imported.path.name)
        constant_bytes = sum(t.nbytes for t in graph.of_kind(TensorKind.CONSTANT))
        metadata = {
            "schema_version": SCHEMA_VERSION,
            "aotgen_version": __version__,
            "tvm_version": tvm.__version__,
            "prefix": prefix,
            "model": {"file": imported.path.name, "format": imported.format, "sha256": imported.sha256},
            "options": {"target": cpu.name, "backend": backend, "workspace": workspace, "io_in_arena": io_in_arena},
            "target": {"cpu": cpu.name, "triple": cpu.triple, "mcpu": cpu.mcpu, "float_abi": cpu.float_abi,
                       "tvm": tvm_target(cpu, backend)},
            "inputs": [t.to_json() for t in imported.signature.inputs],
            "outputs": [t.to_json() for t in imported.signature.outputs],
            "workspace_bytes": plan.arena_bytes,
            "constant_bytes": constant_bytes,
            "memory": {
                "workspace_bytes": plan.arena_bytes,
                "lower_bound_bytes": plan.lower_bound,
                "alignment": plan.alignment,
                # Caller-owned input/output buffers, beyond the arena (0 when they live in it).
                "io_bytes": 0 if io_in_arena else sum(t.nbytes for t in imported.signature.inputs + imported.signature.outputs),
            },
            "operators": imported.operators,
            "kernels": [k.symbol for k in lowered.kernels],
            # What <prefix>_run does, in order (one line of its C each): for profiles.
            "calls": _calls(graph, {k.symbol: k.macs for k in lowered.kernels}),
            "sources": [f"codegen/host/src/{prefix}_lib0.c"],
            "objects": objects,
        }
        if backend == "llvm":  # which kernels each object holds, and how LLVM was tuned for them
            metadata["llvm_objects"] = [{"path": path, "tuning": o.tuning, "kernels": list(o.kernels)}
                                        for path, o in zip(objects, kernel_objects)]
        (staging / "metadata.json").write_text(json.dumps(metadata, indent=2) + "\n")
        written = publish(staging, dest, force, kind="model-library")
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    done("emit")
    library = load(written)
    return CompileResult(library, written, time.monotonic() - start, timings)
