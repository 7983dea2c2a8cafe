"""Session fixtures: the test models (tests/models), and every model compiled once per session.

Compiling is cheap next to building and running, but the generated-C rules, the correctness
checks and the linking tests all look at the same libraries, so each (model, prefix, options)
is compiled once and shared."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

import aotgen
from aotgen_testlib import MODELS, MORE_MODELS
import onnx_builders

ONNX_BUILDERS = {
    "tiny_cnn": onnx_builders.tiny_cnn,
    "tiny_cnn_qdq_int8": onnx_builders.tiny_cnn_qdq_int8,
    "two_inputs": onnx_builders.two_inputs,
}


@pytest.fixture(scope="session")
def shared_models() -> Path:
    """tests/models: the published models and their reference pairs, shipped in the repository."""
    return MODELS


@pytest.fixture(scope="session")
def more_models() -> Path:
    """The shared folder's extra models (../shared/models/more, or $AOTGEN_SHARED/models/more):
    used when present, the test skipped with the reason when not."""
    if not MORE_MODELS.is_dir():
        pytest.skip(f"needs the shared extra models at {MORE_MODELS} (set AOTGEN_SHARED)")
    return MORE_MODELS


@pytest.fixture(scope="session")
def onnx_model_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The ONNX models of onnx_builders, built once: name -> .onnx path."""
    d = tmp_path_factory.mktemp("onnx_models")
    return {name: build(d / f"{name}.onnx") for name, build in ONNX_BUILDERS.items()}


@pytest.fixture(scope="session")
def compile_once(tmp_path_factory: pytest.TempPathFactory, shared_models: Path) -> Callable[..., aotgen.CompileResult]:
    """compile_once(model_path, prefix=None, **options) -> CompileResult, cached per session;
    options are aotgen.compile's (workspace="user", io_in_arena=True, ...)."""
    cache: dict[tuple, aotgen.CompileResult] = {}
    root = tmp_path_factory.mktemp("mlf")

    def get(model: Path, prefix: str | None = None, **options) -> aotgen.CompileResult:
        key = (str(model), prefix, tuple(sorted(options.items())))
        if key not in cache:
            out = root / f"{len(cache)}_{Path(model).stem}"
            cache[key] = aotgen.compile(model, out, prefix=prefix, **options)
        return cache[key]

    return get


@pytest.fixture(scope="session")
def model_file(shared_models: Path, onnx_model_files: dict[str, Path]) -> Callable[[str], Path]:
    """model_file(name) -> path, for the shared TFLite models and the built ONNX models alike."""
    from aotgen_testlib import TFLITE_MODELS

    def get(name: str) -> Path:
        return onnx_model_files[name] if name in onnx_model_files else shared_models / TFLITE_MODELS[name]

    return get
