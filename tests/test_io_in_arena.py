"""`io_in_arena`: inputs and outputs inside the arena, written and read through the header's
buffer accessors (zero copy), with the arena at TFLM's figure for KWS (which counts I/O too)."""

import subprocess

import numpy as np
import pytest

import aotgen
from aotgen.verify.reference import run_reference
from aotgen.verify.compare import random_inputs

from aotgen_testlib import MODELS


@pytest.fixture(scope="module")
def kws_io_lib(tmp_path_factory):
    return aotgen.compile(MODELS / "mlperf_tiny/kws_ref_model.tflite", output=tmp_path_factory.mktemp("io") / "kws",
                          prefix="kws", io_in_arena=True).library


def test_total_ram_is_tflm_arena_head(kws_io_lib):
    meta = kws_io_lib.metadata
    assert meta["memory"]["io_bytes"] == 0
    assert meta["workspace_bytes"] <= 16000  # TFLM's arena head for KWS, inputs and outputs included
    assert meta["workspace_bytes"] >= meta["memory"]["lower_bound_bytes"]


def test_zero_copy_buffers_give_reference_outputs(kws_io_lib, tmp_path):
    lib = kws_io_lib
    (tmp_path / "main.c").write_text("""
#include <stdio.h>
#include "kws.h"
int main(void) {
  int8_t* in = kws_input_1_buffer();
  const int8_t* out = kws_Identity_buffer();
  for (;;) {
    if (fread(in, 1, KWS_INPUT_1_SIZE, stdin) != KWS_INPUT_1_SIZE) return 0;
    if (kws_run(NULL, NULL) != 0) return 2;
    fwrite(out, 1, KWS_IDENTITY_SIZE, stdout);
  }
}
""")
    exe = tmp_path / "kws"
    subprocess.run(["gcc", "-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-I", str(lib.include_dir),
                    str(tmp_path / "main.c"), *map(str, lib.sources), "-lm", "-o", str(exe)], check=True, timeout=300)
    samples = random_inputs(lib.inputs, 5, seed=5)
    out = subprocess.run([str(exe)], input=b"".join(s[0].tobytes() for s in samples), capture_output=True,
                         timeout=60, check=True).stdout
    got = np.frombuffer(out, dtype=np.int8).reshape(len(samples), 1, 12)
    for g, want in zip(got, run_reference(MODELS / "mlperf_tiny/kws_ref_model.tflite", samples)):
        np.testing.assert_array_equal(g, want[0])
