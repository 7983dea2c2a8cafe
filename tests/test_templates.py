"""Template customization: `aotgen templates`, a user's template from a folder (rendered, built
and run in QEMU), `--set` overrides and their errors."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from aotgen.firmware import project
from aotgen.firmware import templates
from aotgen.errors import AotgenError
from aotgen_testlib import AOTGEN, MODELS

HELLO = MODELS / "tflite_micro/hello_world_int8.tflite"


def aotgen(*args: str, timeout: float = 300, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([AOTGEN, *args], capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        pytest.fail(f"aotgen {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def test_templates_command_lists_builtin_templates_and_boards():
    data = json.loads(aotgen("templates", "--json").stdout)
    by_name = {t["name"]: t for t in data["templates"]}
    assert {"cmsis", "arduino", "zephyr"} <= set(by_name)
    assert "mps2_an385" in by_name["cmsis"]["boards"] and "arduino_mega2560" not in by_name["cmsis"]["boards"]
    assert {"arduino_mega2560", "arduino_nano33ble", "arduino_due", "nucleo_f746zg"} <= set(by_name["arduino"]["boards"])
    assert {"nucleo_f746zg", "qemu_cortex_m3", "mps2_an385"} <= set(by_name["zephyr"]["boards"])
    assert by_name["arduino"]["build"] == "arduino" and by_name["zephyr"]["build"] == "west"
    assert "sketch_name" in by_name["arduino"]["variables"]
    text = aotgen("templates").stdout
    assert "arduino" in text and "cmsis" in text and "--template-dir" in text


def test_parse_set_reads_yaml_scalars():
    assert templates.parse_set(["stack_bytes=4096", "opt_flags=-O3", "flag=true", "name=a=b", "empty="]) == \
        {"stack_bytes": 4096, "opt_flags": "-O3", "flag": True, "name": "a=b", "empty": ""}
    for bad in ("novalue", "=3", "k=[1, 2]"):
        with pytest.raises(AotgenError, match="--set"):
            templates.parse_set([bad])


def _user_template(tmp_path: Path) -> Path:
    """A user's template: the cmsis one copied out of the package, with its own variable, a file
    that uses it, and a changed main.c that still serves the harness."""
    tpl = tmp_path / "my_templates" / "greeter"
    shutil.copytree(Path(templates.TEMPLATES_DIR) / "cmsis", tpl)
    cfg = json.loads((tpl / "cookiecutter.json").read_text())
    cfg["greeting"] = "hello"
    (tpl / "cookiecutter.json").write_text(json.dumps(cfg, indent=2))
    slug = tpl / "{{cookiecutter.project_slug}}"
    (slug / "GREETING.txt").write_text("{{ cookiecutter.greeting }} from {{ cookiecutter._aotgen.board.name }}, "
                                       "{{ cookiecutter._aotgen.models | length }} model(s)\n")
    main = (slug / "src/main.c").read_text()
    (slug / "src/main.c").write_text(main.replace("int main(void) {", "const char greeting[] = \"{{ cookiecutter.greeting }}\";\n\nint main(void) {"))
    return tpl


@pytest.mark.skipif(not (shutil.which("arm-none-eabi-gcc") and shutil.which("qemu-system-arm")),
                    reason="needs gcc-arm-none-eabi and qemu-system-arm")
def test_user_template_from_a_folder_renders_builds_and_runs(tmp_path):
    tpl = _user_template(tmp_path)
    out = tmp_path / "fw"
    aotgen("project", str(HELLO), "--board", "mps2_an385", "--template-dir", str(tpl), "-o", str(out),
           "--set", "greeting=servus", "--set", "stack_bytes=4096", "--set", "opt_flags=-Os")
    assert (out / "GREETING.txt").read_text() == "servus from mps2_an385, 1 model(s)\n"
    assert 'greeting[] = "servus"' in (out / "src/main.c").read_text()
    assert "_stack_size = 4096;" in (out / "linker.ld").read_text()  # --set stack_bytes reaches _aotgen.memory
    assert "OPT_FLAGS ?= -Os" in (out / "Makefile").read_text()
    info = project.load_project(out)
    assert info.template == "greeter" and info.data["template_dir"] == str(tpl.resolve())
    assert info.context["greeting"] == "servus"
    aotgen("build", str(out))
    report = json.loads(aotgen("test", str(out), "-n", "2", "--json", timeout=120).stdout)
    assert report["passed"]


def test_set_errors(tmp_path):
    tpl = _user_template(tmp_path)
    proc = aotgen("project", str(HELLO), "--board", "mps2_an385", "--template-dir", str(tpl), "-o",
                  str(tmp_path / "a"), "--set", "colour=red", check=False)
    assert proc.returncode == 2 and "template greeter has no variable 'colour'; its variables:" in proc.stderr
    assert "greeting" in proc.stderr and not (tmp_path / "a").exists()
    proc = aotgen("project", str(HELLO), "--board", "mps2_an385", "-o", str(tmp_path / "b"), "--set", "oops", check=False)
    assert proc.returncode == 2 and "expected key=value" in proc.stderr
    proc = aotgen("project", str(HELLO), "--board", "mps2_an385", "--template-dir", str(tmp_path), "-o",
                  str(tmp_path / "c"), check=False)
    assert proc.returncode == 2 and "not a cookiecutter template (no cookiecutter.json)" in proc.stderr
    proc = aotgen("project", str(HELLO), "--board", "mps2_an385", "--template", "nope", "-o", str(tmp_path / "d"),
                  check=False)
    assert proc.returncode == 2 and "unknown template 'nope'" in proc.stderr


def test_template_spec_file_is_validated(tmp_path):
    tpl = _user_template(tmp_path)
    (tpl / "aotgen_template.yaml").write_text("build: cmake\n")
    with pytest.raises(AotgenError, match="field 'build': 'cmake' is not one of make, arduino, west"):
        templates.load_template(tpl)
    (tpl / "aotgen_template.yaml").write_text("bild: make\n")
    with pytest.raises(AotgenError, match=r"unknown field\(s\) bild"):
        templates.load_template(tpl)
    (tpl / "aotgen_template.yaml").write_text("board_key: zephyr\n")
    spec = templates.load_template(tpl)
    assert spec.board_key == "zephyr" and "mps2_an385" in spec.boards() and "arduino_mega2560" not in spec.boards()


def test_set_baud_rate_reaches_the_sketch_and_the_host_side(tmp_path):
    from aotgen.harness.runner import project_libraries

    out = tmp_path / "fw"
    aotgen("project", str(HELLO), "--board", "arduino_mega2560", "--set", "baud_rate=57600", "-o", str(out))
    assert "harness_port_begin(57600UL);" in (out / "aotgen_firmware/aotgen_firmware.ino").read_text()
    board, _, _ = project_libraries(out)
    assert board.console.baud == 57600  # a real port is opened at the firmware's rate
