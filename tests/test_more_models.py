"""The shared folder's extra published models (../shared/models/more), when it is there: models
nobody on the project chose, compiled, run on the host and compared with their saved reference
outputs (int8: bit-exact, person_detect <= 2 LSB against TFLite Micro; float: the float bound), and
a model with custom operators refused naming them. Without the folder these skip with the reason."""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest

from aotgen.errors import ExitCode
from aotgen.verify.hostcheck import build_host_executable
from aotgen_testlib import AOTGEN, FLOAT_RTOL, INT8_ATOL

CASES = {"str_ww_ref_model.tflite": 0, "micro_speech_quantized.tflite": 0, "mnist-8.onnx": None}


@pytest.mark.parametrize("name", CASES)
def test_extra_model_matches_its_saved_reference(name, more_models, tmp_path):
    model = more_models / name
    io = more_models / "io" / model.stem
    proc = subprocess.run([AOTGEN, "check-host", str(model), "--inputs", str(io / "input_0.npy"), "--count", "1",
                           "--save-outputs", str(tmp_path / "out"), "--json"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["passed"]
    got = np.load(tmp_path / "out/sample_1/output_0.npy")  # sample 0 is the random one, 1 the saved input
    want = np.load(io / "output_0.npy")
    if CASES[name] is not None:
        assert np.array_equal(got.astype(np.int32), want.astype(np.int32))
    else:
        assert np.allclose(got, want, rtol=FLOAT_RTOL, atol=1e-5)


def test_person_detect_matches_tflite_micro(more_models, compile_once, tmp_path):
    """person_detect: LiteRT refuses it (its bias tensors say quantized_dimension 3), so its saved
    reference is TFLite Micro's output; the generated C must give it (<= 2 LSB, the int8 bound)."""
    model = more_models / "person_detect.tflite"
    io = more_models / "io" / model.stem
    lib = compile_once(model).library
    x = np.load(io / "input_0.npy")
    got = build_host_executable(lib, tmp_path).run([[x]])[0][0]
    want = np.load(io / "output_0_tflm.npy")
    diff = np.abs(got.reshape(want.shape).astype(np.int32) - want.astype(np.int32))
    assert diff.max() <= INT8_ATOL, f"{got} vs TFLite Micro's {want}"
    # check-host: LiteRT refuses the model, TFLite Micro's interpreter is the reference, with a note.
    proc = subprocess.run([AOTGEN, "check-host", str(model), "-n", "1", "--json"], capture_output=True, text=True,
                          timeout=600, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["passed"] and "refuses person_detect.tflite" in report["reference_note"], report


def test_custom_operator_model_is_refused_naming_them(more_models, tmp_path):
    """audio_preprocessor_int8 uses TFLite Micro's signal-library custom operators: refused in one
    line that names them, with the model exit code, and nothing written."""
    out = tmp_path / "out"
    proc = subprocess.run([AOTGEN, "compile", str(more_models / "audio_preprocessor_int8.tflite"), "-o", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == ExitCode.MODEL, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "custom operators" in errors[0], proc.stderr
    assert "SignalWindow" in errors[0] and "SignalRfft" in errors[0]
    assert not out.exists()
