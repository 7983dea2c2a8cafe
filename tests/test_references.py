"""The references check-host compares with: TFLite Micro's own interpreter (--reference tflm, and
automatically when LiteRT refuses a model), saved outputs (--expected), and what happens when no
reference can run (one line, the cause's exit code, the outputs still saved).

Real interpreters throughout (tflite-micro is in the test extra). The CLI runs in-process through
its entry point (aotgen.cli.main: the console script's code, without a TVM import per call)."""

from __future__ import annotations

import json
import shutil
import signal
import sys
from pathlib import Path

import numpy as np
import pytest

from aotgen.cli.main import main
from aotgen.verify.compare import random_inputs
from aotgen.verify.reference import reference_outputs
from aotgen_testlib import INT8_ATOL, FLOAT_RTOL, MODELS, TFLITE_MODELS, model_path

KWS_IO = MODELS / "mlperf_tiny/io/kws_ref_model"


def aotgen_cli(monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    """`aotgen ARGS` through the console script's entry point: (exit code, stdout, stderr)."""
    monkeypatch.setattr(sys, "argv", ["aotgen", *args])
    old = signal.getsignal(signal.SIGTERM)
    try:
        with pytest.raises(SystemExit) as e:
            main()
    finally:
        signal.signal(signal.SIGTERM, old)
    out = capsys.readouterr()
    return int(e.value.code or 0), out.out, out.err


def one_line_error(err: str, code: int, rc: int, out: str | None = None) -> str:
    """The error path's contract: the exit code, one line on stderr, no traceback (and the same
    message as a JSON error object when --json printed one)."""
    assert rc == code, (rc, err)
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err, err
    if out is not None:
        error = json.loads(out)["error"]
        assert error["exit_code"] == code and lines[0] == f"error: {error['message']}"
    return lines[0]


@pytest.fixture(scope="module")
def kws_lib(compile_once) -> Path:
    return compile_once(model_path("kws_ref_model")).path


@pytest.fixture(scope="module")
def person(more_models, compile_once) -> tuple[Path, Path]:
    """person_detect (LiteRT refuses it) compiled once, and its saved reference pair's folder."""
    return compile_once(more_models / "person_detect.tflite").path, more_models / "io" / "person_detect"


# ---------------------------------------------------------------------------- TFLite Micro


@pytest.mark.parametrize("name", ["kws_ref_model", "ad01_int8", "hello_world_float"])
def test_tflm_agrees_with_litert(name):
    """On the published models both interpreters run: int8 within the 2 LSB int8 runtimes hold
    among themselves (ad01 differs by up to 2), float within the float bound; and the live TFLM
    reproduces the output it gave when the saved pair was made."""
    import aotgen

    lib_inputs = aotgen.load_library  # noqa: F841 - (only the signature is needed below)
    path = model_path(name)
    io = path.parent / "io" / path.stem
    saved_in = np.load(io / "input_0.npy")
    samples = [[x[0].reshape(saved_in.shape)] for x in
               _random(path, 3)] + [[saved_in]]
    tflm = reference_outputs(path, samples, "tflm")
    litert = reference_outputs(path, samples, "litert")
    assert (tflm.name, tflm.note, litert.name) == ("TFLite Micro", None, "ai-edge-litert (reference kernels)")
    for t, r in zip(tflm.outputs, litert.outputs):
        if "float" in name:
            assert np.abs(t[0] - r[0]).max() <= FLOAT_RTOL * np.abs(r[0]).max()
        else:
            assert np.abs(t[0].astype(int) - r[0].astype(int)).max() <= INT8_ATOL
    assert np.array_equal(tflm.outputs[-1][0], np.load(io / "output_0_tflm.npy"))


def _random(path: Path, count: int) -> list[list[np.ndarray]]:
    from aotgen.compiler.tensors import TensorInfo

    x = np.load(path.parent / "io" / path.stem / "input_0.npy")
    return random_inputs([TensorInfo("x", "x", list(x.shape), str(x.dtype), None)], count, seed=3)


def test_check_host_with_reference_tflm(kws_lib, monkeypatch, capsys):
    rc, out, err = aotgen_cli(monkeypatch, capsys, "check-host", str(kws_lib), "--reference", "tflm",
                              "--inputs", str(KWS_IO / "input_0.npy"), "--count", "2", "--json")
    assert rc == 0, err
    report = json.loads(out)
    assert report["passed"] and report["reference"] == "TFLite Micro" and report["reference_note"] is None
    assert len(report["samples"]) == 3 and report["max_abs_error"] <= INT8_ATOL


def test_person_detect_falls_back_to_tflm(person, monkeypatch, capsys, tmp_path):
    """LiteRT refuses person_detect: TFLite Micro judges it, with a one-line note, and the host
    build is bit-exact with TFLM's saved output."""
    lib, io = person
    rc, out, err = aotgen_cli(monkeypatch, capsys, "check-host", str(lib), "--inputs", str(io / "input_0.npy"),
                              "--count", "1", "--save-outputs", str(tmp_path / "out"))
    assert rc == 0, err
    notes = [ln for ln in err.splitlines() if ln.startswith("note:")]
    assert len(notes) == 1 and "ai-edge-litert refuses person_detect.tflite" in notes[0], err
    assert "the reference is TFLite Micro's interpreter" in notes[0]
    assert "passed: 2 samples match TFLite Micro" in " ".join(out.split())
    assert np.array_equal(np.load(tmp_path / "out/sample_1/output_0.npy"), np.load(io / "output_0_tflm.npy"))
    rc, out, err = aotgen_cli(monkeypatch, capsys, "check-host", str(lib), "--count", "1", "--json")
    assert rc == 0 and json.loads(out)["reference_note"].startswith("ai-edge-litert refuses person_detect"), err
    assert err == ""  # --json: the note is in the report, stderr stays quiet


def test_reference_that_does_not_fit_the_format(kws_lib, monkeypatch, capsys):
    rc, out, err = aotgen_cli(monkeypatch, capsys, "check-host", str(kws_lib), "--reference", "onnxruntime", "--json")
    assert "--reference onnxruntime cannot run kws_ref_model.tflite" in one_line_error(err, 2, rc, out)


# ---------------------------------------------------------------------------- --expected


def test_expected_outputs_pass_and_fail(kws_lib, monkeypatch, capsys, tmp_path):
    """The published pair passes; the same output moved by 3 LSB in one value fails (exit 1)."""
    args = ["check-host", str(kws_lib), "--inputs", str(KWS_IO / "input_0.npy"), "--json"]
    rc, out, err = aotgen_cli(monkeypatch, capsys, *args, "--expected", str(KWS_IO / "output_0.npy"))
    assert rc == 0, err
    report = json.loads(out)
    assert report["passed"] and report["reference"] == "the saved outputs (--expected)"
    assert len(report["samples"]) == 1  # no random samples: they have no saved outputs
    wrong = np.load(KWS_IO / "output_0.npy").astype(np.int8)
    k = int(np.argmin(wrong))
    wrong.flat[k] = wrong.flat[k] + 3
    np.save(tmp_path / "wrong.npy", wrong)
    rc, out, err = aotgen_cli(monkeypatch, capsys, *args, "--expected", str(tmp_path / "wrong.npy"))
    assert rc == 1 and not json.loads(out)["passed"], err
    assert json.loads(out)["samples"][0]["outputs"][0]["max_abs_error"] == 3


@pytest.mark.parametrize("case", ["two_for_one", "wrong_shape", "with_count", "with_reference", "npz"])
def test_expected_errors_are_one_line(case, kws_lib, monkeypatch, capsys, tmp_path):
    x, y = str(KWS_IO / "input_0.npy"), str(KWS_IO / "output_0.npy")
    np.savez(tmp_path / "y.npz", y=np.load(y))
    extra, want = {
        "two_for_one": (["--expected", y, "--expected", y], "--expected: 2 files for 1 input sample of a model with 1 output: give 1"),
        "wrong_shape": (["--expected", x], "does not match output 'Identity' int8[1, 12]"),
        "with_count": (["--expected", y, "--count", "2"], "drop --count"),
        "with_reference": (["--expected", y, "--reference", "tflm"], "two references"),
        "npz": (["--expected", str(tmp_path / "y.npz")], ".npz archives are not read"),
    }[case]
    rc, out, err = aotgen_cli(monkeypatch, capsys, "check-host", str(kws_lib), "--inputs", x, *extra, "--json")
    assert want in one_line_error(err, 2, rc, out)


# ---------------------------------------------------------------------------- no reference


def test_no_reference_saves_the_outputs(person, monkeypatch, capsys, tmp_path):
    """--reference litert on a model LiteRT refuses: nothing to compare with, one line, exit 7
    (a tool aotgen ran failed), and the computed outputs saved all the same."""
    lib, io = person
    rc, out, err = aotgen_cli(monkeypatch, capsys, "check-host", str(lib), "--reference", "litert", "--inputs",
                              str(io / "input_0.npy"), "--count", "0", "--save-outputs", str(tmp_path / "out"), "--json")
    msg = one_line_error(err, 7, rc, out)
    assert "ai-edge-litert (reference kernels) refuses person_detect.tflite" in msg
    assert f"the outputs are saved in {tmp_path / 'out'}" in msg
    assert np.array_equal(np.load(tmp_path / "out/sample_0/output_0.npy"), np.load(io / "output_0_tflm.npy"))


def test_no_reference_without_tflite_micro(person, monkeypatch, capsys, tmp_path):
    """LiteRT refuses the model and tflite-micro is not installed (hidden from the import system):
    exit 5 naming what to install, outputs saved."""
    for name in [m for m in sys.modules if m == "tflite_micro" or m.startswith("tflite_micro.")] + ["tflite_micro"]:
        monkeypatch.setitem(sys.modules, name, None)
    lib, io = person
    rc, out, err = aotgen_cli(monkeypatch, capsys, "check-host", str(lib), "--count", "1",
                              "--save-outputs", str(tmp_path / "out"), "--json")
    msg = one_line_error(err, 5, rc, out)
    assert "ai-edge-litert refuses person_detect.tflite" in msg and "pip install --pre tflite-micro" in msg
    assert (tmp_path / "out/sample_0/output_0.npy").is_file()


def test_library_without_its_model(kws_lib, monkeypatch, capsys, tmp_path):
    """A library whose src/ model is gone: no reference to run (usage: --expected would do), the
    host outputs still saved; with --expected the same library passes."""
    lib = tmp_path / "lib"
    shutil.copytree(kws_lib, lib)
    shutil.rmtree(lib / "src")
    x = str(KWS_IO / "input_0.npy")
    rc, out, err = aotgen_cli(monkeypatch, capsys, "check-host", str(lib), "--inputs", x, "--count", "0",
                              "--save-outputs", str(tmp_path / "out"), "--json")
    assert "does not contain its source model" in one_line_error(err, 2, rc, out)
    saved = np.load(tmp_path / "out/sample_0/output_0.npy")
    assert np.abs(saved.astype(int) - np.load(KWS_IO / "output_0.npy").astype(int)).max() <= INT8_ATOL
    rc, out, err = aotgen_cli(monkeypatch, capsys, "check-host", str(lib), "--inputs", x,
                              "--expected", str(KWS_IO / "output_0.npy"))
    assert rc == 0, err


# ---------------------------------------------------------------------------- on the device (QEMU)

needs_qemu = pytest.mark.skipif(not (shutil.which("arm-none-eabi-gcc") and shutil.which("qemu-system-arm")),
                                reason="needs gcc-arm-none-eabi and qemu-system-arm")


@needs_qemu
def test_person_detect_firmware_against_tflm_saved_and_no_reference(more_models, monkeypatch, capsys, tmp_path):
    """`aotgen run` on person_detect: TFLite Micro judges the firmware (LiteRT refuses the model);
    `aotgen test` of the same firmware passes against TFLM's saved output (--expected), and with
    --reference litert stops with exit 7, the device's outputs saved (bit-exact with TFLM's)."""
    io = more_models / "io" / "person_detect"
    x, tflm_out = str(io / "input_0.npy"), np.load(io / "output_0_tflm.npy")
    project = tmp_path / "fw"
    rc, out, err = aotgen_cli(monkeypatch, capsys, "run", str(more_models / "person_detect.tflite"), "--board",
                              "mps2_an500", "-o", str(project), "--inputs", x, "--count", "1", "--json")
    assert rc == 0, err
    (model,) = json.loads(out)["models"]
    assert model["passed"] and model["reference"] == "TFLite Micro"
    assert model["reference_note"].startswith("ai-edge-litert refuses person_detect.tflite")

    rc, out, err = aotgen_cli(monkeypatch, capsys, "test", str(project), "--inputs", x, "--expected",
                              str(io / "output_0_tflm.npy"), "--json")
    assert rc == 0, err
    (model,) = json.loads(out)["models"]
    assert model["reference"] == "the saved outputs (--expected)" and len(model["samples"]) == 1
    assert model["max_abs_error"] == 0

    rc, out, err = aotgen_cli(monkeypatch, capsys, "test", str(project), "--reference", "litert", "--inputs", x,
                              "--count", "0", "--save-outputs", str(tmp_path / "out"), "--json")
    msg = one_line_error(err, 7, rc, out)
    assert "refuses person_detect.tflite" in msg and "the outputs are saved in" in msg
    assert np.array_equal(np.load(tmp_path / "out/sample_0/output_0.npy"), tflm_out)


def test_expected_files_per_model_in_one_firmware(compile_once):
    """With several models in a firmware each --expected file names its model (PREFIX=FILE.npy),
    as --inputs files do."""
    from aotgen.errors import AotgenError
    from aotgen.harness.runner import make_expected, make_samples

    libs = [compile_once(model_path(n)).library for n in ("hello_world_int8", "kws_ref_model")]
    hello_io = MODELS / "tflite_micro/io/hello_world_int8"
    inputs = [f"hello_world_int8={hello_io / 'input_0.npy'}", f"kws_ref_model={KWS_IO / 'input_0.npy'}"]
    samples = make_samples(libs, 0, 0, inputs)
    expected = make_expected(libs, samples, [f"kws_ref_model={KWS_IO / 'output_0.npy'}",
                                             f"hello_world_int8={hello_io / 'output_0.npy'}"])
    assert [[o.shape for o in s[0]] for s in expected] == [[(1, 1)], [(1, 12)]]
    with pytest.raises(AotgenError, match="give each expected output as PREFIX=FILE.npy"):
        make_expected(libs, samples, [str(KWS_IO / "output_0.npy")])
    with pytest.raises(AotgenError, match="--expected: 0 files for 1 input sample"):
        make_expected(libs, samples, [f"kws_ref_model={KWS_IO / 'output_0.npy'}"])
