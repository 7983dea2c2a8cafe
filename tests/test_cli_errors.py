"""User errors through the real `aotgen` console script: each gives one clear message on stderr,
a non-zero exit and no traceback."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from aotgen_testlib import AOTGEN, DYNAMIC_RANGE_MODEL, model_path
from onnx_builders import unsupported_op

CLI_TIMEOUT_S = 300


def aotgen_fails(*args: str, cwd: Path, code: int | None = None) -> str:
    """Run `aotgen ARGS --json` (no progress lines), expect failure (with exit `code` if given);
    the error text, one line on stderr, and the same as a JSON error object on stdout."""
    proc = subprocess.run([AOTGEN, *args, "--json"], capture_output=True, text=True, timeout=CLI_TIMEOUT_S, cwd=cwd)
    assert proc.returncode != 0, f"exit 0 for {args}: {proc.stdout}"
    assert code is None or proc.returncode == code, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr, proc.stderr
    error = json.loads(proc.stdout)["error"]
    assert error["exit_code"] == proc.returncode and proc.stderr.strip() == f"error: {error['message']}"
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
    model = unsupported_op(tmp_path / "lpnorm.onnx")
    msg = aotgen_fails("compile", str(model), cwd=tmp_path)
    assert "unsupported operator LpNormalization" in msg
    assert "layer 1" in msg and "lpnorm_1" in msg


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
    """A non-empty folder is refused; --force replaces only a folder aotgen wrote, and only the
    files it wrote there: the user's own stay."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("user data")
    model = str(model_path("hello_world_int8"))
    msg = aotgen_fails("compile", model, "-o", str(out), cwd=tmp_path)
    assert "is not empty" in msg and "keep.txt" in msg and "--force" in msg
    msg = aotgen_fails("compile", model, "-o", str(out), "--force", cwd=tmp_path)
    assert "not written by aotgen" in msg and "keep.txt" in msg
    assert [p.name for p in out.iterdir()] == ["keep.txt"] and (out / "keep.txt").read_text() == "user data"

    lib = tmp_path / "lib"
    ok = subprocess.run([AOTGEN, "compile", model, "-o", str(lib), "--json"], capture_output=True, text=True,
                        timeout=CLI_TIMEOUT_S, cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    (lib / "notes.txt").write_text("mine")
    (lib / "codegen/host/src/extra.c").write_text("/* mine */")
    proc = subprocess.run([AOTGEN, "compile", model, "-o", str(lib), "--force", "--prefix", "other", "--json"],
                          capture_output=True, text=True, timeout=CLI_TIMEOUT_S, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (lib / "codegen/host/src/other_lib0.c").is_file()
    assert not (lib / "codegen/host/src/hello_world_int8_lib0.c").exists()  # aotgen's old file replaced
    assert (lib / "notes.txt").read_text() == "mine" and (lib / "codegen/host/src/extra.c").is_file()


@pytest.mark.parametrize("where", [".", "..", "~"])
def test_never_writes_into_the_current_folder_its_parents_or_home(where: str, shared_models: Path,
                                                                  tmp_path: Path) -> None:
    cwd = tmp_path / "work"
    cwd.mkdir()
    (cwd / "precious.txt").write_text("x")
    model = str(model_path("hello_world_int8"))
    dest = str(Path.home()) if where == "~" else where
    for verb in (["compile", model, "--force"], ["run", model, "--board", "mps2_an386", "--count", "1"]):
        msg = aotgen_fails(*verb, "-o", dest, cwd=cwd)
        assert "refusing to write into" in msg, msg
    assert sorted(p.name for p in cwd.iterdir()) == ["precious.txt"]


def test_run_keeps_a_user_folder(shared_models: Path, tmp_path: Path) -> None:
    out = tmp_path / "fw"
    out.mkdir()
    (out / "notes.md").write_text("mine")
    msg = aotgen_fails("run", str(model_path("hello_world_int8")), "--board", "mps2_an386", "-o", str(out),
                       cwd=tmp_path)
    assert "not written by aotgen" in msg and (out / "notes.md").read_text() == "mine"


def test_save_outputs_replaces_only_its_own_samples(shared_models: Path, tmp_path: Path) -> None:
    model = str(model_path("hello_world_int8"))
    saved = tmp_path / "saved"
    for count in ("3", "1"):
        proc = subprocess.run([AOTGEN, "check-host", model, "--count", count, "--save-outputs", str(saved)],
                              capture_output=True, text=True, timeout=CLI_TIMEOUT_S, cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in saved.iterdir() if not p.name.startswith(".")) == ["sample_0"]  # no stale samples
    other = tmp_path / "other"
    other.mkdir()
    (other / "data.npy").write_text("mine")
    msg = aotgen_fails("check-host", model, "--count", "1", "--save-outputs", str(other), cwd=tmp_path)
    assert "not written by aotgen" in msg and (other / "data.npy").read_text() == "mine"


def test_tar_output_leaves_no_temporary_folders(shared_models: Path, tmp_path: Path) -> None:
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    proc = subprocess.run([AOTGEN, "compile", str(model_path("hello_world_int8")), "-o", str(tmp_path / "lib.tar")],
                          capture_output=True, text=True, timeout=CLI_TIMEOUT_S, cwd=tmp_path,
                          env={**os.environ, "TMPDIR": str(tmp)})
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "lib.tar").is_file() and list(tmp.iterdir()) == []


def test_created_folders_follow_the_umask(shared_models: Path, tmp_path: Path) -> None:
    proc = subprocess.run(["sh", "-c", f"umask 022 && {AOTGEN} compile {model_path('hello_world_int8')} -o lib"],
                          capture_output=True, text=True, timeout=CLI_TIMEOUT_S, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "lib").stat().st_mode & 0o777 == 0o755


def test_check_host_input_of_wrong_shape(shared_models: Path, tmp_path: Path) -> None:
    import numpy as np

    bad = tmp_path / "bad.npy"
    np.save(bad, np.zeros((3, 3), np.int8))
    msg = aotgen_fails("check-host", str(model_path("hello_world_int8")), "--inputs", str(bad), cwd=tmp_path, code=2)
    assert "bad.npy" in msg and "does not match input" in msg


def test_inputs_must_have_the_inputs_shape_and_dtype(shared_models: Path, tmp_path: Path) -> None:
    """The same number of elements is not enough: a (1,10,49,1) array is not a (1,49,10,1) input;
    only a leading batch of 1 may be added or left out; the dtype must match; .npz is refused."""
    import numpy as np

    kws = str(model_path("kws_ref_model"))
    cases = {"transposed": np.zeros((1, 10, 49, 1), np.int8), "float": np.zeros((1, 49, 10, 1), np.float32)}
    for name, x in cases.items():
        np.save(tmp_path / f"{name}.npy", x)
        msg = aotgen_fails("check-host", kws, "--count", "0", "--inputs", str(tmp_path / f"{name}.npy"), cwd=tmp_path,
                           code=2)
        assert f"{name}.npy" in msg and "does not match input" in msg and "[1, 49, 10, 1]" in msg
    np.savez(tmp_path / "both.npz", a=np.zeros((1, 49, 10, 1), np.int8))
    msg = aotgen_fails("check-host", kws, "--inputs", str(tmp_path / "both.npz"), cwd=tmp_path, code=2)
    assert ".npz archives are not read" in msg
    for ok in (np.zeros((49, 10, 1), np.int8), np.zeros((1, 49, 10, 1), np.int8)):  # batch dropped, or exact
        np.save(tmp_path / "ok.npy", ok)
        proc = subprocess.run([AOTGEN, "check-host", kws, "--count", "0", "--inputs", str(tmp_path / "ok.npy")],
                              capture_output=True, text=True, timeout=CLI_TIMEOUT_S, cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr


def test_sigterm_during_compile_leaves_no_staging_folder(shared_models: Path, tmp_path: Path) -> None:
    import signal
    import time

    proc = subprocess.Popen([AOTGEN, "compile", str(model_path("vww_96_float")), "-o", str(tmp_path / "out")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    try:
        deadline = time.monotonic() + 60
        while not any(p.name.startswith(".out.") for p in tmp_path.iterdir()) and proc.poll() is None \
                and time.monotonic() < deadline:
            time.sleep(0.02)  # the staging folder exists once the import is done
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode in (0, 143) and "Traceback" not in err, err
    # Whenever the signal lands: no staging folder left, and an output only if it is complete.
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left in ([], ["out"]), left
    if left:
        assert (tmp_path / "out/.aotgen-manifest.json").is_file() and (tmp_path / "out/metadata.json").is_file()


@pytest.mark.parametrize("board", ["mps2_an386", "arduino_mega2560"])
def test_run_with_a_port_flashes_first_or_refuses(board: str, shared_models: Path, tmp_path: Path) -> None:
    """A port means a real board, which runs whatever was flashed last: `run` must flash what it
    just built before testing, or fail; never test the port's old firmware (boards that also run
    in an emulator included)."""
    import shutil

    needs = {"mps2_an386": ["arm-none-eabi-gcc"], "arduino_mega2560": ["avr-gcc", "arduino-builder"]}[board]
    if not all(shutil.which(t) for t in needs):
        pytest.skip(f"needs {', '.join(needs)}")
    proc = subprocess.run([AOTGEN, "run", str(model_path("hello_world_int8")), "--board", board, "--count", "1",
                           "--port", "socket://127.0.0.1:9", "-o", str(tmp_path / "fw")],
                          capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert proc.returncode != 0 and "flashing" in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    assert "passed" not in proc.stdout + proc.stderr


def test_short_options_mean_one_thing_everywhere() -> None:
    """-p is --port, -t --template, -b --board, -o --output, -i --inputs, -n --count, -f --force on every
    command that has them; --timeout means only the build's time limit."""
    from aotgen.cli import cli

    meaning: dict[str, set[str]] = {}
    timeouts = []
    for name, command in cli.commands.items():
        for param in command.params:
            for opt in param.opts + param.secondary_opts:
                if len(opt) == 2:
                    meaning.setdefault(opt, set()).add(param.name)
            if "--timeout" in param.opts:
                timeouts.append(name)
    assert {k: v for k, v in meaning.items() if len(v) > 1} == {}
    assert meaning["-p"] == {"port"} and meaning["-t"] == {"template"}
    assert timeouts == ["build"]


@pytest.mark.parametrize("item", ["stack_bytes=lots", "baud_rate=fast", "stack_bytes=-5", "nonsense=1"])
def test_set_values_are_checked_before_compiling(item: str, shared_models: Path, tmp_path: Path) -> None:
    msg = aotgen_fails("project", str(model_path("hello_world_int8")), "--board", "mps2_an386", "--set", item,
                       "-o", str(tmp_path / "p"), cwd=tmp_path, code=2)
    assert item.split("=")[0] in msg and not (tmp_path / "p").exists()


def test_a_template_the_board_lacks_is_refused_before_compiling(shared_models: Path, tmp_path: Path) -> None:
    msg = aotgen_fails("run", str(model_path("hello_world_int8")), "--board", "mps2_an505", "-t", "zephyr",
                       cwd=tmp_path, code=2)
    assert "does not support template 'zephyr'" in msg and "importing" not in msg
