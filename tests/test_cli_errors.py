"""User errors through the real `aotgen` console script: each gives one clear message on stderr,
a non-zero exit and no traceback."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from aotgen_testlib import AOTGEN, DYNAMIC_RANGE_MODEL, model_path
from onnx_builders import unsupported_op

CLI_TIMEOUT_S = 300


def aotgen_fails(*args: str, cwd: Path) -> str:
    """Run `aotgen ARGS --json` (no progress lines), expect failure; the error text, one line."""
    proc = subprocess.run([AOTGEN, *args, "--json"], capture_output=True, text=True, timeout=CLI_TIMEOUT_S, cwd=cwd)
    assert proc.returncode != 0, f"exit 0 for {args}: {proc.stdout}"
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.stdout == "", proc.stdout
    # Exactly one message, on one line (not folded at the 80 columns of a pipe), nothing else.
    assert proc.stderr.startswith("error: ") and proc.stderr.count("error:") == 1, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, f"more than the message:\n{proc.stderr}"
    return proc.stderr.strip()


def test_not_a_model(tmp_path: Path) -> None:
    fake = tmp_path / "notes.tflite"
    fake.write_text("this is not a model, just some text long enough to be read\n")
    msg = aotgen_fails("compile", str(fake), cwd=tmp_path)
    assert "not a TFLite (.tflite) or ONNX (.onnx) model" in msg and "notes.tflite" in msg


def test_corrupt_model_files(shared_models: Path, tmp_path: Path) -> None:
    truncated = tmp_path / "truncated.tflite"
    truncated.write_bytes(model_path("kws_ref_model").read_bytes()[:300])
    msg = aotgen_fails("compile", str(truncated), cwd=tmp_path)
    assert "truncated.tflite is not a valid TFLite model" in msg
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(bytes(range(256)) * 8)
    msg = aotgen_fails("compile", str(garbage), cwd=tmp_path)
    assert "garbage.onnx is not a valid ONNX model" in msg


def test_missing_model_file(tmp_path: Path) -> None:
    msg = aotgen_fails("compile", str(tmp_path / "absent.onnx"), cwd=tmp_path)
    assert "absent.onnx" in msg and "not found" in msg


def test_unsupported_operator_names_op_and_layer(tmp_path: Path) -> None:
    model = unsupported_op(tmp_path / "celu.onnx")
    msg = aotgen_fails("compile", str(model), cwd=tmp_path)
    assert "unsupported operator Celu" in msg
    assert "layer 1" in msg and "celu_1" in msg


def test_unsupported_tflite_operator_names_op_and_layer(tmp_path: Path) -> None:
    import numpy as np

    from tflite_builder import ModelSpec

    m = ModelSpec()
    x = m.input("x", [1, 8], "float32")
    r = m.activation("relu_out", [1, 8], "float32")
    m.op("RELU", [x], [r])
    update = m.const("update", np.ones((1, 2), np.float32))
    start = m.const("start", np.zeros(2, np.int32))
    y = m.activation("dus_out", [1, 8], "float32")
    m.op("DYNAMIC_UPDATE_SLICE", [r, update, start], [y])
    model = tmp_path / "dus.tflite"
    model.write_bytes(m.to_bytes(outputs=[y]))
    msg = aotgen_fails("compile", str(model), cwd=tmp_path)
    assert "unsupported operator DYNAMIC_UPDATE_SLICE" in msg
    assert "layer 1" in msg and "dus_out" in msg


def test_dynamic_range_model_refused_with_reason(shared_models: Path, tmp_path: Path) -> None:
    msg = aotgen_fails("compile", str(shared_models / DYNAMIC_RANGE_MODEL), cwd=tmp_path)
    assert "dynamic-range" in msg and "not supported" in msg
    assert "int8 weights but float activations" in msg  # the why


@pytest.mark.parametrize("prefix", ["9lives", "has-dash", "int", "x" * 33, ""])
def test_invalid_prefix(prefix: str, shared_models: Path, tmp_path: Path) -> None:
    msg = aotgen_fails("compile", str(model_path("hello_world_int8")), "--prefix", prefix, cwd=tmp_path)
    assert f"invalid prefix '{prefix}'" in msg and "C identifier" in msg


def test_existing_output_needs_force(shared_models: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("user data")
    model = str(model_path("hello_world_int8"))
    msg = aotgen_fails("compile", model, "-o", str(out), cwd=tmp_path)
    assert "exists and is not empty" in msg and "--force" in msg
    assert (out / "keep.txt").read_text() == "user data"
    proc = subprocess.run([AOTGEN, "compile", model, "-o", str(out), "--force", "--json"],
                          capture_output=True, text=True, timeout=CLI_TIMEOUT_S, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (out / "metadata.json").is_file() and not (out / "keep.txt").exists()


def test_check_host_input_of_wrong_shape(shared_models: Path, tmp_path: Path) -> None:
    import numpy as np

    bad = tmp_path / "bad.npy"
    np.save(bad, np.zeros((3, 3), np.int8))
    msg = aotgen_fails("check-host", str(model_path("hello_world_int8")), "--inputs", str(bad), cwd=tmp_path)
    assert "bad.npy" in msg and "does not match input" in msg
