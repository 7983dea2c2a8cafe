"""Every int8 shared model in integers (issue 3): bit-exact (0 LSB) against ai-edge-litert's
reference kernels (BUILTIN_REF, run live) on seeded random inputs and the shared saved pair; the
generated C free of float arithmetic; constants within 1.05x the model's weight bytes."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import tflite

from aotgen.hostcheck import build_host_executable
from aotgen.reference import run_reference
from aotgen.verify import load_inputs, random_inputs
from aotgen_testlib import INT8_MODELS, saved_pair

RANDOM_SAMPLES = 20
SEED = 303

# Weight bytes per model, from ../shared/models/README.md (checked against the file below).
WEIGHT_BYTES = {
    "hello_world_int8": 420,
    "kws_ref_model": 24_376,
    "vww_96_int8": 219_072,
    "pretrainedResnet_quant": 78_752,
    "ad01_int8": 270_880,
}
CONSTANT_BOUND = 1.05  # x weight bytes, the bound, held by every model

FLOAT_WORDS = re.compile(r"\b(float|double)\b")


def weight_bytes(path: Path) -> int:
    """Bytes of the model's constant buffers (weights and biases)."""
    model = tflite.Model.GetRootAsModel(path.read_bytes(), 0)
    sg = model.Subgraphs(0)
    buffers = {sg.Tensors(i).Buffer() for i in range(sg.TensorsLength())}
    return sum(model.Buffers(b).DataLength() for b in buffers)


@pytest.mark.parametrize("name", INT8_MODELS)
def test_int8_model_is_bit_exact(name, model_file, compile_once, tmp_path):
    path = model_file(name)
    lib = compile_once(path).library
    saved_in, saved_out = saved_pair(name)
    samples = random_inputs(lib.inputs, RANDOM_SAMPLES, seed=SEED) + load_inputs([saved_in], lib.inputs)
    reference = run_reference(path, samples)
    np.testing.assert_array_equal(reference[-1][0].reshape(saved_out.shape), saved_out,
                                  err_msg="the live reference does not reproduce the saved pair")
    assert any(not np.array_equal(reference[0][0], r[0]) for r in reference[1:]), "inputs test nothing"

    got = build_host_executable(lib, tmp_path).run(samples)
    for i, (g, r) in enumerate(zip(got, reference)):
        diff = np.abs(g[0].astype(np.int32) - r[0].reshape(g[0].shape).astype(np.int32))
        assert diff.max() == 0, f"sample {i}: {int((diff > 0).sum())} outputs differ, max {diff.max()} LSB"
    np.testing.assert_array_equal(got[-1][0].reshape(saved_out.shape), saved_out)


@pytest.mark.parametrize("name", INT8_MODELS)
def test_int8_model_has_no_float_arithmetic(name, model_file, compile_once):
    lib = compile_once(model_file(name)).library
    for source in lib.sources:
        text = Path(source).read_text()
        hits = {m.group(0) for m in FLOAT_WORDS.finditer(text)}
        assert not hits, f"{Path(source).name} mentions {sorted(hits)}"


@pytest.mark.parametrize("name", INT8_MODELS)
def test_int8_model_constants_within_bound(name, model_file, compile_once):
    path = model_file(name)
    assert weight_bytes(path) == WEIGHT_BYTES[name], "the README's weight bytes do not match the file"
    constant_bytes = compile_once(path).library.metadata["constant_bytes"]
    bound = CONSTANT_BOUND * WEIGHT_BYTES[name]
    assert constant_bytes <= bound, (
        f"{constant_bytes} constant bytes > {bound:.0f} ({constant_bytes / WEIGHT_BYTES[name]:.4f}x weights)")
