"""The shared folder's extra published models (../shared/models/more), when it is there: models
nobody on the project chose, compiled, run on the host and compared with their saved reference
outputs (int8: bit-exact; float: the float bound). Without the folder these skip with the reason."""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest

from aotgen_testlib import AOTGEN, FLOAT_RTOL

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
