"""Bad model files, bounded fuzz: truncations and byte flips of a real .tflite and .onnx. Every
case either compiles or is refused with an AotgenError of the model class (exit 3); nothing else
escapes (no other exception, no crash). The cases run in one child process, so that a crash in
native code fails this test with the case named instead of killing the test session. A few cases
also go through the command line: one line on stderr, exit 3, a JSON error object."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import onnx_builders
from aotgen_testlib import AOTGEN, model_path

FUZZ = textwrap.dedent("""
    import json, sys, tempfile
    from pathlib import Path
    import numpy as np
    import aotgen
    from aotgen.errors import AotgenError

    source, suffix, count, seed = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    data = source.read_bytes()
    rng = np.random.default_rng(seed)
    cases = [("empty", b""), ("random", rng.bytes(len(data)))]
    for n in sorted(set(int(v) for v in rng.integers(1, len(data), count // 2))):
        cases.append((f"truncated {n}", data[:n]))
    while len(cases) < count:
        b = bytearray(data)
        for pos in rng.integers(0, len(data), int(rng.integers(1, 4))):
            b[pos] ^= int(rng.integers(1, 256))
        cases.append((f"flipped {len(cases)}", bytes(b)))
    with tempfile.TemporaryDirectory() as tmp:
        results = []
        for i, (name, blob) in enumerate(cases):
            model = Path(tmp) / f"case{i}{suffix}"
            model.write_bytes(blob)
            print(name, file=sys.stderr, flush=True)  # the last line names a crashing case
            try:
                aotgen.compile(model, Path(tmp) / f"out{i}", target="host")
                results.append([name, "compiled", 0])
            except AotgenError as e:
                results.append([name, type(e).__name__, int(e.exit_code)])
            except Exception as e:
                results.append([name, f"escaped {type(e).__name__}: {str(e)[:200]}", -1])
    print(json.dumps(results))
""")


@pytest.mark.parametrize("kind", ["tflite", "onnx"])
def test_fuzzed_models_are_compiled_or_refused(kind, tmp_path):
    if kind == "tflite":
        source = model_path("hello_world_int8")
    else:
        source = onnx_builders.tiny_cnn(tmp_path / "tiny_cnn.onnx")
    count = 120 if kind == "tflite" else 80
    proc = subprocess.run([sys.executable, "-c", FUZZ, str(source), f".{kind}", str(count), "7"],
                          capture_output=True, text=True, timeout=900)
    last = proc.stderr.strip().splitlines()[-1:] if proc.stderr.strip() else []
    assert proc.returncode == 0, f"the fuzz process died (exit {proc.returncode}) on case {last}"
    results = json.loads(proc.stdout.strip().splitlines()[-1])
    assert len(results) == count
    escaped = [r for r in results if r[2] not in (0, 3)]
    assert escaped == [], escaped[:5]
    assert sum(r[1] == "compiled" for r in results) < count  # the fuzz did reach the refusals
    assert any(r[0] == "empty" and r[2] == 3 for r in results)


@pytest.mark.parametrize("case", ["empty", "random", "truncated", "flipped-header"])
def test_bad_model_on_the_command_line_is_one_line(case, tmp_path):
    data = model_path("hello_world_int8").read_bytes()
    blob = {"empty": b"", "random": np.random.default_rng(1).bytes(3000), "truncated": data[: len(data) // 3],
            "flipped-header": data[:4] + b"TFL4" + data[8:]}[case]
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(blob)
    proc = subprocess.run([AOTGEN, "compile", str(bad), "--json"], capture_output=True, text=True, timeout=300,
                          cwd=tmp_path)
    assert proc.returncode == 3, proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert json.loads(proc.stdout)["error"]["exit_code"] == 3
    assert not any(p.name != "bad.tflite" for p in tmp_path.iterdir())  # nothing written


def test_a_layer_tvm_cannot_lower_is_named(tmp_path):
    """TVM lowers the whole graph at once and its errors name neither operator nor layer; aotgen
    finds the layer that fails alone. MATRIX_DIAG imports (TVM has a converter) but its
    legalization leaves an extern call no C kernel implements."""
    from tflite_builder import RELU, ModelSpec

    m = ModelSpec()
    x = m.input("x", [1, 4, 3], "float32")
    h = m.activation("h", [1, 4, 3], "float32")
    d = m.activation("d", [1, 4, 3, 3], "float32")
    y = m.activation("y", [1, 4, 3, 3], "float32")
    m.op("RELU", [x], [h])
    m.op("MATRIX_DIAG", [h], [d])
    m.op("ADD", [d, d], [y], "AddOptions", FusedActivationFunction=RELU)
    model = tmp_path / "diag.tflite"
    model.write_bytes(m.to_bytes(outputs=[y]))
    proc = subprocess.run([AOTGEN, "compile", str(model), "-o", str(tmp_path / "out"), "--json"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 3, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr  # TVM's C++ warnings held back
    assert "layer 1 (MATRIX_DIAG, output 'd') could not be lowered" in proc.stderr, proc.stderr
    assert "layer 1 (MATRIX_DIAG" in json.loads(proc.stdout)["error"]["message"]
    assert not (tmp_path / "out").exists()
