"""The MLPerf Tiny app's device side (project_templates/common/aotgen_mlperf.c), compiled for the
host with AddressSanitizer/UBSan over TCP, driven through every command, every malformed one,
and random garbage; plus the numpy mirror of its input conversion and the model-id rules."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

import aotgen
from aotgen.compiler.mlf import ModelLibrary
from aotgen.errors import AotgenError
from aotgen.harness.hostbuild import build_host_harness, start_host_harness
from aotgen.harness.mlperf import MLPERF_C
from aotgen.harness.mlperf.link import MlperfCommandRefused, MlperfLink, MlperfProtocolError
from aotgen.harness.mlperf.models import BENCHMARKS, mlperf_model, recognise
from aotgen.harness.transport import open_transport
from aotgen.verify.reference import run_reference

from aotgen_testlib import MODELS, time_limit
from mlperf_cases import BEFORE_LOAD, after_load, check_refusals, send_raw
from test_protocol import COMPILERS

TEST_LIMIT_S = 90
SANITIZE = ["-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-g"]
HELLO = MODELS / "tflite_micro/hello_world_int8.tflite"


@pytest.fixture(autouse=True)
def _bounded():
    with time_limit(TEST_LIMIT_S):
        yield


@pytest.fixture(scope="module")
def hello(tmp_path_factory) -> ModelLibrary:
    return aotgen.compile(HELLO, tmp_path_factory.mktemp("mlperf_mlf") / "hello").library


@pytest.fixture(scope="module")
def device_exe(hello, tmp_path_factory) -> Path:
    return build_host_harness([hello], tmp_path_factory.mktemp("mlperf_host"), cflags=SANITIZE,
                              mlperf=mlperf_model(hello))


def connected(exe: Path):
    h = start_host_harness(exe, max_seconds=TEST_LIMIT_S)
    t = open_transport(h.url)
    link = MlperfLink(t, timeout=5.0)
    link.drain(0.2)  # the boot lines, if pyserial's connect did not flush them
    return h, t, link


def finish(h) -> str:
    """Stop the device; its stderr (a sanitizer report, timestamp-pin lines)."""
    h.proc.terminate()
    _, err = h.proc.communicate(timeout=10)
    return err.decode()


@pytest.mark.parametrize("target", list(COMPILERS))
def test_device_side_is_warning_free_c99_everywhere(target, tmp_path):
    cmd = COMPILERS[target]
    if shutil.which(cmd[0]) is None:
        pytest.skip(f"{cmd[0]} not installed")
    proc = subprocess.run([*cmd, "-std=c99", "-pedantic", "-Wall", "-Wextra", "-Wconversion", "-Wsign-conversion",
                           "-Werror", "-Os", "-c", str(MLPERF_C), "-o", str(tmp_path / "m.o")],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr


def test_every_command_and_every_refusal(device_exe, hello):
    h, t, link = connected(device_exe)
    try:
        assert link.name() == "aotgen"
        assert link.profile() == ("aotgen MLPerf Tiny firmware", "hello_world_int8")
        check_refusals(link, BEFORE_LOAD)
        help_lines = link.command("help")
        assert any(line.strip().startswith("infer N [W]") for line in help_lines)
        assert not any("m-ready" in line or line.startswith(("m-", "e-")) for line in help_lines)
        x = np.array([[-77]], dtype=np.int8)
        link.load(x.tobytes())
        check_refusals(link, after_load(1))
        assert send_raw(link, b"db print%") == ["m-buffer-b3"]
        stamp = link.command("timestamp")
        assert len(stamp) == 1 and stamp[0].startswith("m-lap-us-")
        answer = link.infer(3, 2, timeout=10)
        assert answer.iterations == 3 and answer.elapsed_us is not None and answer.elapsed_us >= 0
        assert answer.start_us >= int(stamp[0][len("m-lap-us-"):])  # one clock, never backwards
        want = mlperf_model(hello).expected_results(x.tobytes(), run_reference(HELLO, [[x]])[0][0])
        assert answer.results == pytest.approx(want.tolist(), abs=2 * 0.00829096 + 1e-6)
        assert link.results() == answer.results  # `results` repeats the last ones
        # Commands arriving in one burst, and a terminal's line ends, are fine.
        t.write(b"name%\r\nname%")
        deadline = time.monotonic() + 5
        assert [link.read_line(deadline) for _ in range(4)] == ["m-name-dut-[aotgen]", "m-ready"] * 2
    finally:
        err = finish(h)
    assert "Sanitizer" not in err and "runtime error" not in err, err[-2000:]


def test_random_garbage_never_corrupts_the_device(device_exe):
    """60 bursts of random bytes (up to 400 bytes each) (with '%' among them), each followed by `name`: the device always
    answers it, and the sanitizers never report."""
    rng = np.random.default_rng(16)
    h, t, link = connected(device_exe)
    try:
        for i in range(60):
            n = int(rng.integers(1, 400))
            burst = rng.integers(0, 256, n, dtype=np.uint8)
            burst[rng.random(n) < 0.05] = ord("%")
            t.write(burst.tobytes() + b"%")  # ends whatever command the burst left open
            link.drain(0.05)  # the burst's refusals
            assert link.name() == "aotgen", f"after burst {i}"
    finally:
        err = finish(h)
    assert "Sanitizer" not in err and "runtime error" not in err, err[-2000:]


def test_energy_mode_pulses_the_pin_instead_of_printing(hello, tmp_path):
    exe = build_host_harness([hello], tmp_path, mlperf=mlperf_model(hello, "custom01", energy=True))
    h, t, link = connected(exe)
    try:
        assert link.profile()[1] == "custom01"
        assert link.command("timestamp") == []
        link.load(b"\x05")
        answer = link.infer(2, 0, timeout=10)
        assert answer.elapsed_us is None and len(answer.results) == 1
    finally:
        err = finish(h)
    pins = [line for line in err.splitlines() if line.startswith("timestamp-pin")]
    # High at boot, then a low-high pulse per timestamp (the command, and two around the inferences).
    assert pins == ["timestamp-pin 1"] + ["timestamp-pin 0", "timestamp-pin 1"] * 3


def test_host_rejects_answers_that_break_the_protocol(device_exe):
    h, t, link = connected(device_exe)
    try:
        with pytest.raises(MlperfCommandRefused, match=r"refused 'infer 0 0': e-\[infer: N must be at least 1\]"):
            link.infer(0, 0, timeout=5)
        with pytest.raises(MlperfProtocolError, match="answered 'timestamp' with"):
            link._expect("timestamp", link.command("timestamp"), [r"m-name-dut-\[(.+)\]"])
        with pytest.raises(ValueError):
            link.command("x" * 81)
        with pytest.raises(ValueError):
            link.command("name%")
    finally:
        finish(h)


# ------------------------------------------------------------------------------ models and raw data

def fake_library(tmp_path: Path, inputs: list[dict], outputs: list[dict], prefix: str = "m") -> ModelLibrary:
    def tensor(d, i):
        n = int(np.prod(d["shape"]))
        return {"name": f"t{i}", "c_name": f"t{i}", "shape": d["shape"], "dtype": d["dtype"],
                "quantization": d.get("q"), "bytes": n * np.dtype(d["dtype"]).itemsize}
    meta = {"prefix": prefix, "inputs": [tensor(d, i) for i, d in enumerate(inputs)],
            "outputs": [tensor(d, 10 + i) for i, d in enumerate(outputs)]}
    (tmp_path / "metadata.json").write_text(json.dumps(meta))
    return ModelLibrary(tmp_path, meta)


def test_the_four_benchmarks_are_recognised_and_others_keep_their_prefix(tmp_path):
    q = {"scale": 1 / 255, "zero_point": -128}
    cases = {"kws01": ([1, 49, 10, 1], "int8", 12), "vww01": ([1, 96, 96, 3], "int8", 2),
             "ic01": ([1, 32, 32, 3], "uint8", 10), "ad01": ([1, 640], "float32", 640)}
    for model_id, (shape, dtype, n_out) in cases.items():
        lib = fake_library(tmp_path, [{"shape": shape, "dtype": dtype, "q": q if dtype != "float32" else None}],
                           [{"shape": [1, n_out], "dtype": "int8", "q": q}])
        assert recognise(lib) is BENCHMARKS[model_id]
        assert mlperf_model(lib).model_id == model_id
    other = fake_library(tmp_path, [{"shape": [1, 8], "dtype": "int8", "q": q}], [{"shape": [1, 3], "dtype": "int8"}],
                         prefix="my.model-2")
    m = mlperf_model(other)
    assert (m.model_id, m.raw, m.raw_bytes) == ("my.model-2", "tensor", 8)
    assert mlperf_model(other, "mine01").model_id == "mine01"
    with pytest.raises(AotgenError, match="model id kws01 is MLPerf Tiny keyword spotting"):
        mlperf_model(other, "kws01")
    with pytest.raises(AotgenError, match="1 to 32 letters"):
        mlperf_model(other, "a]b")
    two = fake_library(tmp_path, [{"shape": [1], "dtype": "int8"}] * 2, [{"shape": [1], "dtype": "int8"}])
    with pytest.raises(AotgenError, match="one input"):
        mlperf_model(two)


def test_raw_samples_become_the_input_as_the_reference_firmware_does(tmp_path):
    """Pixels (vww01: v/255 quantized with 1/255 and -128; ic01: v with scale 1) become v - 128
    exactly; float32 values round half away from zero and saturate."""
    for shape, scale in (([1, 96, 96, 3], 0.003921568859368563), ([1, 32, 32, 3], 1.0)):
        n_out = 2 if shape[1] == 96 else 10
        lib = fake_library(tmp_path, [{"shape": shape, "dtype": "int8", "q": {"scale": scale, "zero_point": -128}}],
                           [{"shape": [1, n_out], "dtype": "int8", "q": {"scale": 1 / 256, "zero_point": -128}}])
        m = mlperf_model(lib)
        pixels = np.resize(np.arange(256, dtype=np.uint8), int(np.prod(shape)))
        assert np.array_equal(m.to_input(pixels.tobytes()).reshape(-1), pixels.astype(np.int16) - 128)
    lib = fake_library(tmp_path, [{"shape": [1, 640], "dtype": "int8", "q": {"scale": 0.5, "zero_point": 3}}],
                       [{"shape": [1, 640], "dtype": "int8", "q": {"scale": 0.5, "zero_point": 3}}])
    m = mlperf_model(lib)
    real = np.zeros(640, dtype="<f4")
    real[:8] = [0.25, -0.25, 0.75, -0.75, 1000, -1000, np.nan, 0.2499]
    q = m.to_input(real.tobytes()).reshape(-1)
    assert q[:8].tolist() == [4, 2, 5, 1, 127, -128, 3, 3]  # 0.5 -> 1, -0.5 -> -1 (away from zero)
    with pytest.raises(AotgenError, match="2560 bytes"):
        m.to_input(b"\0" * 640)
