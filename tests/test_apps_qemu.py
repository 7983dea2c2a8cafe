"""The minimal and mlperf-tiny apps built with the cmsis template and run in QEMU: the minimal app
prints what the reference interpreter computes; `aotgen mlperf` drives kws01 and ad01 through the
runner's protocol with results matching the reference, deterministic timestamps under icount,
every malformed command refused, and energy mode's timestamp pin seen in QEMU's trace.

Needs gcc-arm-none-eabi, libnewlib-arm-none-eabi and qemu-system-arm."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from aotgen.errors import AotgenError
from aotgen.firmware import boards, build, project, qemu
from aotgen.harness.mlperf.driver import run_mlperf
from aotgen.harness.mlperf.link import MlperfLink
from aotgen.harness.mlperf.models import mlperf_model
from aotgen.harness.qemu_session import QemuSerial
from aotgen.verify.reference import run_reference

from aotgen_testlib import AOTGEN, INT8_ATOL, MODELS, time_limit
from mlperf_cases import BEFORE_LOAD, after_load, check_refusals

TEST_LIMIT_S = 240
KWS = MODELS / "mlperf_tiny/kws_ref_model.tflite"
AD01 = MODELS / "mlperf_tiny/ad01_int8.tflite"
HELLO_FLOAT = MODELS / "tflite_micro/hello_world_float.tflite"

pytestmark = [
    pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None, reason="needs gcc-arm-none-eabi"),
    pytest.mark.skipif(shutil.which("qemu-system-arm") is None, reason="needs qemu-system-arm"),
]


@pytest.fixture(autouse=True)
def _bounded():
    with time_limit(TEST_LIMIT_S):
        yield


def built(compile_once, model: Path, board_name: str, out: Path, app: str, **app_options) -> Path:
    board = boards.load_board(board_name)
    lib = compile_once(model, target=board.cpu).library
    p = project.generate_project([lib], board, "cmsis", out, app=app, app_options=app_options)
    build.build(p)
    return p


def aotgen(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([AOTGEN, *map(str, args)], capture_output=True, text=True, timeout=TEST_LIMIT_S)
    if check and proc.returncode != 0:
        pytest.fail(f"aotgen {' '.join(map(str, args))} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


@pytest.fixture(scope="module")
def kws_mlperf(compile_once, tmp_path_factory) -> Path:
    return built(compile_once, KWS, "mps2_an500", tmp_path_factory.mktemp("kws_mlperf") / "fw", "mlperf-tiny")


@pytest.fixture(scope="module")
def ad01_energy(compile_once, tmp_path_factory) -> Path:
    return built(compile_once, AD01, "mps2_an386", tmp_path_factory.mktemp("ad01_energy") / "fw", "mlperf-tiny",
                 energy=True)


# ------------------------------------------------------------------------------ minimal


@pytest.mark.parametrize("model, board_name", [(KWS, "mps2_an500"), (HELLO_FLOAT, "mps2_an386")])
def test_minimal_app_prints_what_the_reference_computes(compile_once, tmp_path, model, board_name):
    p = built(compile_once, model, board_name, tmp_path / "fw", "minimal")
    main = (p / "src/main.c").read_text()
    assert "aotgen_app_minimal()" in main and len(main.splitlines()) < 15  # the short main users copy
    lib = project.load_project(p).libraries()[0]
    subprocess.run(["arm-none-eabi-gcc", *boards.load_board(board_name).gcc_flags, "-std=c99", "-pedantic", "-Wall",
                    "-Wextra", "-Wconversion", "-Wsign-conversion", "-Werror", "-Os", "-Isrc", f"-I{lib.include_dir}",
                    "-c", "src/aotgen_app_minimal.c", "-o", str(tmp_path / "m.o")], cwd=p, check=True, timeout=60)
    result = qemu.run(boards.load_board(board_name), p / "build/firmware.elf", timeout=60)
    assert result.exit_code == 0, result.output
    info = project.load_project(p)
    m = re.search(rf"^{lib.prefix}: status 0, (\d+) instructions \(QEMU icount\)\r$", result.output, re.M)
    assert m and 0 < int(m.group(1)) < 10**9, result.output
    assert result.output.rstrip().endswith("exit 0")
    x = info.test_input(lib.prefix, lib.inputs[0].c_name)
    want = run_reference(lib.model_file, [[x]])[0]
    for t, expected in zip(lib.outputs, want):
        printed = re.search(rf"^{lib.prefix}\.{t.c_name} = \[(.*?)\]\r$", result.output, re.M | re.S)
        got = np.array([float(v) for v in printed.group(1).replace("\r\n", " ").split(",")])
        if t.dtype == "float32":
            assert np.allclose(got, expected.reshape(-1), rtol=1e-4, atol=1e-6), (got, expected)
        else:
            assert np.all(got == np.round(got)) and np.max(np.abs(got - expected.reshape(-1))) <= INT8_ATOL


def test_aotgen_test_refuses_a_project_of_another_app(kws_mlperf):
    proc = aotgen("test", kws_mlperf, check=False)
    assert proc.returncode == 2 and "runs the mlperf-tiny app" in proc.stderr and "aotgen mlperf" in proc.stderr


# ------------------------------------------------------------------------------ mlperf-tiny


def test_kws01_performance_windows_are_deterministic_and_match_the_reference(kws_mlperf):
    proc = aotgen("mlperf", kws_mlperf, "--iterations", 2, "--warmups", 1, "--windows", 3, "--json")
    r = json.loads(proc.stdout)
    assert r["passed"] and r["model_id"] == "kws01" and r["clock"] == "qemu" and r["timestamp_mode"] == "performance"
    elapsed = [w["elapsed_us"] for w in r["windows"]]
    assert len(elapsed) == 3 and max(elapsed) - min(elapsed) <= 2, elapsed  # icount: virtual time repeats
    assert r["median_throughput"] is None  # virtual time is not a speed
    assert 1e6 < r["median_instructions"] < 1e8
    s = r["samples"][0]
    assert s["within_tolerance"] and s["agrees"] and len(s["results"]) == 12


def test_kws01_accuracy_over_an_inputs_folder(kws_mlperf, tmp_path):
    d = tmp_path / "samples"
    d.mkdir()
    shutil.copy(MODELS / "mlperf_tiny/io/kws_ref_model/input_0.npy", d / "a.npy")
    np.random.default_rng(7).integers(-128, 128, 490, dtype=np.int8).tofile(d / "b.bin")
    (d / "y_labels.csv").write_text("a.npy, 12, 9\nb.bin, 12, 3\n")
    with pytest.raises(AotgenError, match=r"a\.npy: \d+ bytes, but one kws01 sample is 490 bytes"):
        run_mlperf(kws_mlperf, "accuracy", d)  # y_labels.csv lists raw files: a .npy is not one
    (d / "y_labels.csv").write_text("b.bin, 12, 3\n")
    r = run_mlperf(kws_mlperf, "accuracy", d).to_json()
    assert r["passed"] and r["agreement"] == {"agree": 1, "samples": 1} and r["labels"]["metric"] == "top-1 accuracy"
    (d / "y_labels.csv").unlink()
    text = aotgen("mlperf", kws_mlperf, "--mode", "accuracy", "-i", d).stdout
    assert "top-1 agreement with the reference interpreter: 2/2 (100.0 %)" in text


def test_every_malformed_command_gets_an_e_line_in_qemu(kws_mlperf):
    board, elf = boards.load_board("mps2_an500"), kws_mlperf / "build/firmware.elf"
    x = np.load(MODELS / "mlperf_tiny/io/kws_ref_model/input_0.npy").astype(np.int8)
    with QemuSerial(board, elf) as q:
        link = MlperfLink(q.transport)
        assert link.wait_for_boot(10) and link.boot_lines == ["m-timestamp-mode-performance", "m-init-done"]
        check_refusals(link, BEFORE_LOAD)
        link.load(x.tobytes())
        check_refusals(link, after_load(490))
        answer = link.infer(1, 0, timeout=60)  # still sound after all of them
    lib = project.load_project(kws_mlperf).libraries()[0]
    model = mlperf_model(lib)
    out = run_reference(lib.model_file, [[x]])[0][0]
    assert np.allclose(answer.results, model.expected_results(x.tobytes(), out), atol=2 / 256 + 1e-6)


def test_ad01_energy_mode_pulses_the_fpgaio_led_and_scores_match(ad01_energy, tmp_path):
    board, elf = boards.load_board("mps2_an386"), ad01_energy / "build/firmware.elf"
    rng = np.random.default_rng(11)
    raw = rng.normal(-25, 12, 640).astype("<f4").tobytes()
    with QemuSerial(board, elf, qemu_args=("-trace", "mps2_fpgaio_write")) as q:
        link = MlperfLink(q.transport)
        assert link.wait_for_boot(10) and link.mode == "energy"
        assert link.profile()[1] == "ad01"
        assert link.command("timestamp") == []
        link.load(raw)
        answer = link.infer(3, 1, timeout=60)
        assert answer.elapsed_us is None  # no m-lap-us in energy mode
    writes = [re.search(r"offset 0x0 data (0x[0-9a-f]+)", line).group(1)
              for line in q.stderr_lines() if "mps2_fpgaio_write" in line]
    # LED0 high at boot, then a falling and a rising edge per timestamp (the command, two around infer).
    assert writes == ["0x1"] + ["0x0", "0x1"] * 3
    lib = project.load_project(ad01_energy).libraries()[0]
    model = mlperf_model(lib, "ad01", energy=True)
    out = run_reference(lib.model_file, [[model.to_input(raw)]])[0][0]
    assert abs(answer.results[0] - model.expected_results(raw, out)[0]) <= model.result_tolerance(raw, out)[0]
    # aotgen mlperf: no timing from an energy build; accuracy over float32 samples works.
    with pytest.raises(AotgenError, match="energy-mode build"):
        run_mlperf(ad01_energy, "performance")
    d = tmp_path / "ad"
    d.mkdir()
    for i in range(2):
        rng.normal(-20, 10, 640).astype("<f4").tofile(d / f"s{i}.bin")
    report = run_mlperf(ad01_energy, "accuracy", d)
    assert report.passed and report.agreement == (2, 2) and report.timestamp_mode == "energy"
