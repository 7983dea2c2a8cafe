"""The public Python API: what `import aotgen` offers, each verb composed from the pipeline's parts.

The compiler knows CPUs and the firmware side knows boards; this module is where the two meet
(a board name as compile target, models compiled for a board's project)."""

from __future__ import annotations

from pathlib import Path

from .compiler import mlf
from .compiler.mlf import ModelLibrary
from .compiler.pipeline import CompileResult, Progress
from .compiler.pipeline import compile as compile_for_cpu
from .errors import AotgenError
from .firmware.boards import Board, resolve_target

__all__ = ["compile", "CompileResult", "libraries_for_board"]


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

    `target` is a CPU (`cortex-m7`) or a board name (its CPU). Without `output`, the library goes to
    a new temporary folder. `workspace="user"` makes the caller provide the arena
    (`<prefix>_set_workspace`); `io_in_arena` places the model's inputs and outputs inside the arena
    too (smallest total RAM; the header exposes their buffers).
    """
    return compile_for_cpu(model, output, prefix, resolve_target(target), backend, workspace, io_in_arena,
                           force, progress)


def libraries_for_board(models: list[str | Path], prefix: str | None, board: Board, tmp: Path,
                        compile_options: dict | None = None,
                        progress: Progress | None = None) -> list[ModelLibrary]:
    """Model Library Format folders/tarballs as they are; model files compiled for the board's CPU
    into `tmp`."""
    if prefix and len(models) > 1:
        raise AotgenError("--prefix applies to a single model; compile several models separately")
    libs = []
    for i, item in enumerate(models):
        path = Path(item)
        if not path.exists():
            raise AotgenError(f"{path}: no such file or folder")
        if mlf.is_model_library(path):
            lib = mlf.load(path)
            if prefix and lib.prefix != prefix:
                raise AotgenError(f"{path} was compiled with prefix '{lib.prefix}'; recompile it for --prefix {prefix}")
            libs.append(lib)
            continue
        if path.suffix.lower() not in (".tflite", ".onnx"):
            raise AotgenError(f"{path}: expected a .tflite or .onnx model or a Model Library Format folder")
        if progress:
            progress(f"compiling {path.name} for {board.cpu}")
        result = compile(path, prefix=prefix, output=tmp / f"model{i}", target=board.cpu, force=True,
                         **(compile_options or {}))
        libs.append(result.library)
    return libs
