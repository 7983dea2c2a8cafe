"""Choosing a firmware app (aotgen project --app): what each template lists, the one-line
errors for choices that cannot work, and what `aotgen mlperf` refuses before touching a board.
(The apps running: test_apps_qemu.py, test_mlperf_protocol.py, test_project_zephyr.py,
test_project_arduino.py.)"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from aotgen.errors import AotgenError
from aotgen.firmware import boards, project
from aotgen.firmware.templates import APPS, load_template
from aotgen.harness.mlperf.driver import run_mlperf

from aotgen_testlib import AOTGEN, MODELS

HELLO = MODELS / "tflite_micro/hello_world_int8.tflite"


@pytest.fixture(scope="module")
def hello(compile_once):
    return compile_once(HELLO, target="cortex-m4").library


def generate(libs, out: Path, template: str | Path = "cmsis", board: str = "mps2_an386", **kw) -> Path:
    return project.generate_project(libs, boards.load_board(board), template, out, **kw)


def test_every_builtin_template_runs_every_app():
    for name in ("cmsis", "zephyr", "arduino"):
        assert load_template(name).apps == APPS


def test_the_project_records_its_app_and_the_template_gets_it(hello, tmp_path):
    p = generate([hello], tmp_path / "a", app="mlperf-tiny", app_options={"model_id": "hello01"})
    info = project.load_project(p)
    assert info.app == {"name": "mlperf-tiny", "model_id": "hello01", "energy": False, "raw": "tensor",
                        "raw_bytes": 1, "result": "scores"}
    assert '.model_id = "hello01"' in (p / "src/aotgen_mlperf_model.c").read_text()
    assert not (p / "src/aotgen_harness.c").exists()  # the harness is not linked into other apps
    assert project.load_project(generate([hello], tmp_path / "b")).app == {"name": "harness"}


@pytest.mark.parametrize("kw, message", [
    ({"app": "bogus"}, "unknown app 'bogus'"),
    ({"app": "harness", "app_options": {"model_id": "x"}}, "options of --app mlperf-tiny"),
    ({"app": "minimal", "app_options": {"energy": True}}, "options of --app mlperf-tiny"),
    ({"app": "mlperf-tiny", "app_options": {"model_id": "kws01"}}, "model id kws01 is MLPerf Tiny keyword spotting"),
    ({"app": "mlperf-tiny", "board": "nucleo_l4r5zi", "app_options": {"energy": True}},
     "board nucleo_l4r5zi names none"),
])
def test_choices_that_cannot_work_are_one_line_errors(hello, tmp_path, kw, message):
    with pytest.raises(AotgenError, match=message):
        generate([hello], tmp_path / "p", **kw)
    assert not (tmp_path / "p").exists()


def test_mlperf_serves_one_model(hello, compile_once, tmp_path):
    other = compile_once(HELLO, prefix="other", target="cortex-m4").library
    with pytest.raises(AotgenError, match="serves one model; got 2"):
        generate([hello, other], tmp_path / "p", app="mlperf-tiny")


def test_a_template_folder_runs_the_harness_unless_it_lists_more(hello, tmp_path):
    mine = tmp_path / "mine"
    shutil.copytree(load_template("cmsis").path, mine)
    with pytest.raises(AotgenError, match="template mine runs the app harness, not minimal"):
        generate([hello], tmp_path / "p", template=mine, app="minimal")
    (mine / "aotgen_template.yaml").write_text("apps: [harness, minimal]\n")
    p = generate([hello], tmp_path / "p", template=mine, app="minimal")
    assert (p / "src/aotgen_app_minimal.c").is_file()
    (mine / "aotgen_template.yaml").write_text("apps: [harness, tetris]\n")
    with pytest.raises(AotgenError, match="field 'apps'"):
        load_template(mine)


def test_aotgen_mlperf_refuses_before_touching_a_board(hello, tmp_path):
    harness = generate([hello], tmp_path / "h")
    with pytest.raises(AotgenError, match="runs the harness app; `aotgen mlperf` drives MLPerf Tiny firmware"):
        run_mlperf(harness)
    p = generate([hello], tmp_path / "m", app="mlperf-tiny")
    with pytest.raises(AotgenError, match="accuracy mode needs --inputs"):
        run_mlperf(p, "accuracy")
    (tmp_path / "in").mkdir()
    (tmp_path / "in/x.bin").write_bytes(b"\1\2")
    with pytest.raises(AotgenError, match=r"x\.bin: 2 bytes, but one hello_world_int8 sample is 1 bytes"):
        run_mlperf(p, "accuracy", tmp_path / "in")


def test_command_line(tmp_path):
    """--app on aotgen project (checked before compiling), aotgen mlperf's one-line errors."""
    proc = subprocess.run([AOTGEN, "project", str(HELLO), "-b", "mps2_an386", "--app", "harness", "--model-id", "x",
                           "-o", str(tmp_path / "p")], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "options of --app mlperf-tiny" in proc.stderr and not (tmp_path / "p").exists()
    out = tmp_path / "fw"
    proc = subprocess.run([AOTGEN, "project", str(HELLO), "-b", "mps2_an386", "--app", "mlperf-tiny", "-o", str(out),
                           "--json"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["app"]["model_id"] == "hello_world_int8"
    proc = subprocess.run([AOTGEN, "mlperf", str(out), "--mode", "accuracy", "--json"], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 2 and json.loads(proc.stdout)["error"]["message"].startswith("accuracy mode needs")
