"""The generated C, built with the host gcc, against the reference interpreter run live
(ai-edge-litert reference kernels for TFLite, onnxruntime for ONNX) and the shared saved pairs.

Bounds (issue 2): float outputs max relative error <= 1e-4, int8 outputs <= 2 LSB."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from aotgen.verify.hostcheck import check_on_host
from aotgen.verify.reference import run_reference
from aotgen.verify.compare import CheckReport, compare_output, load_inputs, random_inputs
from aotgen_testlib import FLOAT_MODELS, FLOAT_RTOL, INT8_ATOL, INT8_MODELS, build_program, multi_model_main, \
    run_program, saved_pair

RANDOM_SAMPLES = 5
SEED = 2024


def tolerance(name_or_dtype: str) -> dict:
    is_int = name_or_dtype in INT8_MODELS or name_or_dtype == "int8"
    return {"atol": INT8_ATOL} if is_int else {"rtol": FLOAT_RTOL}


def describe(report: CheckReport) -> str:
    return "\n".join(f"sample {s.index} {o.output}: max abs {o.max_abs_error:g}, rel {o.rel_error:.3g}, "
                     f"{'pass' if o.passed else 'FAIL'} ({o.tolerance})"
                     for s in report.samples for o in s.outputs)


def assert_inputs_matter(reference: list[list[np.ndarray]]) -> None:
    """Guard against a vacuous pass: the samples must not all give the same reference output."""
    first = reference[0]
    assert any(not all(np.array_equal(a, b) for a, b in zip(first, r)) for r in reference[1:]), \
        "every sample gives the same reference output: the inputs test nothing"


@pytest.mark.parametrize("name", [*FLOAT_MODELS, *INT8_MODELS])
def test_tflite_model_matches_reference(name: str, model_file: Callable[[str], Path], compile_once, tmp_path: Path) -> None:
    path = model_file(name)
    lib = compile_once(path).library
    saved_in, saved_out = saved_pair(name)
    samples = random_inputs(lib.inputs, RANDOM_SAMPLES, seed=SEED) + load_inputs([saved_in], lib.inputs)
    reference = run_reference(path, samples)
    # The live interpreter must reproduce the shared saved output, or it is not the reference.
    np.testing.assert_array_equal(reference[-1][0].reshape(saved_out.shape), saved_out)
    assert_inputs_matter(reference)

    report, outputs = check_on_host(lib, samples, reference, workdir=tmp_path, **tolerance(name))
    assert report.passed, describe(report)
    saved_check = compare_output(outputs[-1][0], saved_out, lib.outputs[0], **tolerance(name))
    assert saved_check.passed, f"saved pair: max abs error {saved_check.max_abs_error}"


@pytest.mark.parametrize("name", ["tiny_cnn", "tiny_cnn_qdq_int8", "two_inputs"])
def test_onnx_model_matches_onnxruntime(name: str, model_file: Callable[[str], Path], compile_once, tmp_path: Path) -> None:
    path = model_file(name)
    lib = compile_once(path).library
    assert lib.metadata["model"]["format"] == "onnx"
    samples = random_inputs(lib.inputs, RANDOM_SAMPLES + 1, seed=SEED)
    reference = run_reference(path, samples)
    assert_inputs_matter(reference)
    report, _ = check_on_host(lib, samples, reference, workdir=tmp_path, **tolerance(lib.outputs[0].dtype))
    assert report.reference == "onnxruntime"
    assert report.passed, describe(report)


LINKED_TOGETHER = ["kws_ref_model", "vww_96_int8", "pretrainedResnet", "pretrainedResnet_quant", "ad01_int8",
                   "hello_world_float", "tiny_cnn"]


def test_models_with_different_prefixes_in_one_executable(model_file, compile_once, tmp_path: Path) -> None:
    libs = [compile_once(model_file(n)).library for n in LINKED_TOGETHER]
    assert len({lib.prefix for lib in libs}) == len(libs)
    exe = build_program(libs, multi_model_main(libs), tmp_path)
    check_program(exe, libs, [model_file(n) for n in LINKED_TOGETHER])


@pytest.mark.parametrize("io_in_arena", [False, True], ids=["io_outside", "io_in_arena"])
def test_user_workspace_models_share_one_buffer(io_in_arena: bool, model_file, compile_once, tmp_path: Path) -> None:
    """Two --workspace user models, one buffer, runs interleaved A B A B A B: each run must not
    depend on what the other left in the arena (with io_in_arena, not even its inputs)."""
    names = ["ad01_int8", "pretrainedResnet"]
    libs = [compile_once(model_file(n), prefix=f"user_{i}", workspace="user", io_in_arena=io_in_arena).library
            for i, n in enumerate(names)]
    exe = build_program(libs, multi_model_main(libs, shared_workspace=True), tmp_path)
    check_program(exe, libs, [model_file(n) for n in names])


def check_program(exe: Path, libs: list, models: list[Path], count: int = 3) -> None:
    samples = [random_inputs(lib.inputs, count, seed=SEED + k) for k, lib in enumerate(libs)]
    outputs = run_program(exe, libs, samples)
    for lib, model, lib_samples, lib_outputs in zip(libs, models, samples, outputs):
        reference = run_reference(model, lib_samples)
        for got, want in zip(lib_outputs, reference):
            for a, e, t in zip(got, want, lib.outputs):
                check = compare_output(a, e, t, **tolerance(t.dtype))
                assert check.passed, f"{lib.prefix} output {t.name}: max abs error {check.max_abs_error}"
