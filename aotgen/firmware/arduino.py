"""Building Arduino sketch projects (the `arduino` template): arduino-cli when it is installed,
else Debian's arduino-builder with the Debian AVR core.

arduino-builder needs two workarounds (see the notes in the repository's docs/templates.md):
gcc-avr 5.4 lacks DECIMAL_DIG for the core's WString.cpp (defined from __DECIMAL_DIG__), and the
build path must exist before it runs. It only knows the cores Debian packages (arduino:avr);
other FQBNs (mbed_nano, sam, STM32duino) need arduino-cli with the core installed.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from .. import toolchain
from ..errors import AotgenError, MissingSetupError, ToolNotFoundError
from .project_info import ProjectInfo

ARDUINO_CLI = "arduino-cli"
ARDUINO_BUILDER = "arduino-builder"
DEBIAN_HARDWARE = (Path("/usr/share/arduino/hardware"), Path("/usr/share/arduino-builder"))
DEBIAN_CORE_API = "10819"
# Debian's gcc-avr 5.4 has no DECIMAL_DIG, which the AVR core's WString.cpp uses.
DECIMAL_DIG_FIX = "-DDECIMAL_DIG=__DECIMAL_DIG__"


def sketch_path(project: ProjectInfo) -> Path:
    name = str(project.context.get("sketch_name", ""))
    sketch = project.root / name / f"{name}.ino"
    if not name or not sketch.is_file():
        raise AotgenError(f"{project.root}: no Arduino sketch {name or '?'}/{name or '?'}.ino in the project")
    return sketch


def fqbn(project: ProjectInfo) -> str:
    value = project.template_settings.get("fqbn")
    if not value:
        raise AotgenError(f"board {project.board_name} has no `templates.arduino.fqbn` in its board file")
    return str(value)


def build_argv(project: ProjectInfo) -> list[str]:
    """The compile command for the project's sketch, into <project>/build."""
    sketch, board_fqbn = sketch_path(project), fqbn(project)
    build_dir = project.root / "build"
    build_dir.mkdir(exist_ok=True)  # arduino-builder fails on a missing build path
    opt = str(project.context.get("opt_flags", "") or "").strip()
    if shutil.which(ARDUINO_CLI):
        argv = [ARDUINO_CLI, "compile", "--fqbn", board_fqbn, "--build-path", str(build_dir)]
        if opt:
            argv += ["--build-property", f"compiler.c.extra_flags={opt}",
                     "--build-property", f"compiler.cpp.extra_flags={opt}"]
        return argv + [str(sketch.parent)]
    if not shutil.which(ARDUINO_BUILDER):
        raise ToolNotFoundError(f"{ARDUINO_CLI} (or {ARDUINO_BUILDER})", "arduino-builder arduino-core-avr")
    package, arch = board_fqbn.split(":")[:2]
    core = DEBIAN_HARDWARE[0] / package / arch
    if not core.is_dir():
        raise MissingSetupError(f"the FQBN {board_fqbn} needs the {package}:{arch} Arduino core, which Debian does not "
                          f"package ({core} is missing): install arduino-cli and `arduino-cli core install "
                          f"{package}:{arch}` (Debian's arduino-builder builds AVR boards only)")
    if arch == "avr":
        toolchain.require("avr-gcc")
    return [ARDUINO_BUILDER, "-compile",
            *[a for d in DEBIAN_HARDWARE for a in ("-hardware", str(d))],
            "-tools", "/usr/bin", "-fqbn", board_fqbn, "-build-path", str(build_dir.resolve()),
            "-core-api-version", DEBIAN_CORE_API,
            f"-prefs=compiler.cpp.extra_flags={DECIMAL_DIG_FIX} {opt}".rstrip(),
            *([f"-prefs=compiler.c.extra_flags={opt}"] if opt else []),
            str(sketch.resolve())]


def upload_argv(project: ProjectInfo, port: str | None) -> list[str]:
    """`arduino-cli upload` of the built sketch (the board's own uploader: bossac, avrdude, ...)."""
    if not shutil.which(ARDUINO_CLI):
        raise MissingSetupError(f"uploading to {project.board_name} needs arduino-cli with its core "
                          f"(`arduino-cli core install {':'.join(fqbn(project).split(':')[:2])}`)")
    if port is None:
        raise AotgenError("arduino-cli upload needs the board's serial port: give it with --port")
    sketch = sketch_path(project)
    return [ARDUINO_CLI, "upload", "-p", port, "--fqbn", fqbn(project), "--input-dir",
            str(project.root.resolve() / "build"), str(sketch.parent.resolve())]
