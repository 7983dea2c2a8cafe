"""`aotgen compile` and `aotgen check-host` through the real console script: output locations,
the summary, JSON, saved outputs and the exit code of a failed check."""

from __future__ import annotations

import json
import subprocess
import tarfile
from pathlib import Path

import numpy as np
import pytest

import aotgen
from aotgen.verify.reference import run_reference
from aotgen_testlib import AOTGEN, INT8_ATOL, model_path, saved_pair

CLI_TIMEOUT_S = 600


def aotgen_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([AOTGEN, *args], capture_output=True, text=True, timeout=CLI_TIMEOUT_S, cwd=cwd)


def test_compile_default_output_and_summary(shared_models: Path, tmp_path: Path) -> None:
    proc = aotgen_cli("compile", str(model_path("hello_world_int8")), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    lib = aotgen.load_library(tmp_path / "build" / "hello_world_int8")  # documented default
    assert lib.prefix == "hello_world_int8"
    for word in ("hello_world_int8", "operators", "kernels", "constants", "arena", "lower bound"):
        assert word in proc.stdout, proc.stdout
    assert f"{lib.workspace_bytes:,} B" in proc.stdout
    assert "header build/hello_world_int8/codegen/host/include/hello_world_int8.h" in proc.stdout
    assert "importing" in proc.stderr  # progress goes to stderr


def test_compile_json_tarball(shared_models: Path, tmp_path: Path) -> None:
    out = tmp_path / "kws.tar"
    proc = aotgen_cli("compile", str(model_path("kws_ref_model")), "--prefix", "kws", "-o", str(out),
                      "--target", "cortex-m7", "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)  # nothing but JSON on stdout
    assert proc.stderr.strip() == "" or "importing" not in proc.stderr  # no progress with --json
    lib = aotgen.load_library(out)
    assert tarfile.is_tarfile(out)
    assert summary["output"] == str(out) and summary["prefix"] == "kws"
    assert summary["operators"] == len(lib.metadata["operators"])
    assert summary["kernels"] == len(lib.metadata["kernels"])
    assert summary["constant_bytes"] == lib.constant_bytes
    assert summary["workspace_bytes"] == lib.workspace_bytes
    assert summary["workspace_lower_bound"] <= summary["workspace_bytes"]
    assert summary["seconds"] > 0 and set(summary["timings"]) >= {"import", "lower"}
    assert lib.metadata["options"]["target"] == "cortex-m7"


def test_check_host_json_with_file_input_and_saved_outputs(shared_models: Path, tmp_path: Path) -> None:
    saved_in, saved_out = saved_pair("hello_world_int8")
    outdir = tmp_path / "outs"
    proc = aotgen_cli("check-host", str(model_path("hello_world_int8")), "--count", "3", "--seed", "5",
                      "--inputs", str(saved_in), "--save-outputs", str(outdir), "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["passed"] is True and len(report["samples"]) == 4
    assert report["reference"].startswith("ai-edge-litert")
    # The saved files: the given input is the last sample, its output matches the shared pair.
    np.testing.assert_array_equal(np.load(outdir / "sample_3" / "input_0.npy"), np.load(saved_in))
    got = np.load(outdir / "sample_3" / "output_0.npy").astype(int)
    assert np.max(np.abs(got - saved_out.reshape(got.shape).astype(int))) <= INT8_ATOL
    # Saved random inputs are the ones actually run: feeding one back reproduces its output.
    x = np.load(outdir / "sample_0" / "input_0.npy")
    want = run_reference(model_path("hello_world_int8"), [[x]])[0][0].astype(int)
    got0 = np.load(outdir / "sample_0" / "output_0.npy").astype(int)
    assert np.max(np.abs(got0 - want.reshape(got0.shape))) <= INT8_ATOL


def test_check_host_table(shared_models: Path, tmp_path: Path) -> None:
    proc = aotgen_cli("check-host", str(model_path("hello_world_float")), "-n", "2", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    for word in ("random 0", "random 1", "max |err|", "rel err", "argmax", "bound", "pass", "passed"):
        assert word in proc.stdout, proc.stdout


def test_check_host_exit_code_follows_the_verdict(onnx_model_files: dict[str, Path], tmp_path: Path) -> None:
    """With zero tolerance, any difference fails: the exit code must say what the report says."""
    model = onnx_model_files["tiny_cnn"]  # float: onnxruntime sums in another order, so rarely exact
    proc = aotgen_cli("check-host", str(model), "--atol", "0", "--rtol", "0", "--count", "6", "--json", cwd=tmp_path)
    report = json.loads(proc.stdout)
    exact = all(o["max_abs_error"] == 0 for s in report["samples"] for o in s["outputs"])
    assert report["passed"] is exact
    if exact:
        assert proc.returncode == 0, proc.stderr
    else:
        assert proc.returncode == 1 and "host check failed" in proc.stderr and "Traceback" not in proc.stderr


def test_check_host_two_input_model_from_files(onnx_model_files: dict[str, Path], tmp_path: Path) -> None:
    """--inputs given once per model input make one sample; the names need not be C identifiers."""
    model = onnx_model_files["two_inputs"]
    rng = np.random.default_rng(3)
    a, b = tmp_path / "a.npy", tmp_path / "b.npy"
    np.save(a, rng.uniform(-2, 2, (1, 10)).astype(np.float32))
    np.save(b, rng.uniform(-2, 2, (1, 6)).astype(np.float32))
    proc = aotgen_cli("check-host", str(model), "--count", "0", "--inputs", str(a), "--inputs", str(b), "--json",
                      cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["passed"] and len(report["samples"]) == 1
    assert [o["output"] for o in report["samples"][0]["outputs"]] == ["out/view:0", "out.square"]


@pytest.mark.parametrize("options", [["--backend", "llvm"], ["--workspace", "user", "--io-in-arena"]])
def test_check_host_checks_the_variant_that_ships(options: list[str], shared_models: Path, tmp_path: Path) -> None:
    proc = aotgen_cli("check-host", str(model_path("kws_ref_model")), "-n", "3", *options, "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["passed"] and len(report["samples"]) == 3


def test_check_host_on_compiled_libraries(shared_models: Path, tmp_path: Path) -> None:
    """check-host on what `compile` wrote (a C folder, an LLVM tarball) checks those very files."""
    model = str(model_path("hello_world_int8"))
    for out, options in ((tmp_path / "c_lib", []), (tmp_path / "llvm_lib.tar", ["--backend", "llvm"])):
        assert aotgen_cli("compile", model, "-o", str(out), *options, "--json", cwd=tmp_path).returncode == 0
        proc = aotgen_cli("check-host", str(out), "-n", "3", "--json", cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        report = json.loads(proc.stdout)
        assert report["passed"] and len(report["samples"]) == 3 and report["model"] == "hello_world_int8.tflite"
    proc = aotgen_cli("check-host", str(tmp_path / "c_lib"), "--workspace", "user", cwd=tmp_path)
    assert proc.returncode == 2 and "already compiled library" in proc.stderr and "--workspace" in proc.stderr


def test_check_host_seed_reproduces_inputs(shared_models: Path, tmp_path: Path) -> None:
    model = str(model_path("hello_world_float"))
    runs = {}
    for name, seed in (("a", "9"), ("b", "9"), ("c", "10")):
        proc = aotgen_cli("check-host", model, "-n", "2", "--seed", seed, "--save-outputs", str(tmp_path / name),
                          "--json", cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        runs[name] = [np.load(tmp_path / name / f"sample_{i}" / "input_0.npy") for i in range(2)]
    assert all(np.array_equal(x, y) for x, y in zip(runs["a"], runs["b"]))
    assert not any(np.array_equal(x, y) for x, y in zip(runs["a"], runs["c"]))
