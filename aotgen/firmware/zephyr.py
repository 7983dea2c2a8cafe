"""Building and flashing Zephyr projects (the `zephyr` template) with west.

No package registry carries Zephyr: the user points ZEPHYR_BASE at a Zephyr tree (west's
workspace, or a plain checkout with its modules). Without the Zephyr SDK, Debian's
arm-none-eabi-gcc works as `ZEPHYR_TOOLCHAIN_VARIANT=gnuarmemb GNUARMEMB_TOOLCHAIN_PATH=/usr`,
which aotgen sets when neither variable is set and the SDK is not found.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from ..errors import AotgenError, MissingSetupError
from .project_info import ProjectInfo

WEST = "west"
WEST_PIP = "west"


def zephyr_base() -> Path:
    base = os.environ.get("ZEPHYR_BASE")
    if not base:
        raise MissingSetupError("ZEPHYR_BASE is not set: point it at a Zephyr tree (e.g. ~/zephyrproject/zephyr; "
                          "`west init` + `west update` make one) to build Zephyr projects")
    path = Path(base)
    if not (path / "VERSION").is_file() or not (path / "cmake").is_dir():
        raise MissingSetupError(f"ZEPHYR_BASE={base} is not a Zephyr tree (no VERSION file and cmake/ folder)")
    return path


def zephyr_version(base: Path) -> str:
    fields = dict(line.split("=", 1) for line in (base / "VERSION").read_text().splitlines() if "=" in line)
    get = lambda k: fields.get(k, "").strip()  # noqa: E731
    return f"{get('VERSION_MAJOR')}.{get('VERSION_MINOR')}.{get('PATCHLEVEL')}"


def board_name(project: ProjectInfo) -> str:
    name = project.template_settings.get("board")
    if not name:
        raise AotgenError(f"board {project.board_name} has no `templates.zephyr.board` in its board file")
    return str(name)


def require_west() -> str:
    path = shutil.which(WEST)
    if path is None:
        raise MissingSetupError(f"'{WEST}' not found on PATH: install it with `pip install {WEST_PIP}`")
    return path


def build_env() -> dict[str, str]:
    env = dict(os.environ)
    zephyr_base()
    if "ZEPHYR_TOOLCHAIN_VARIANT" not in env and "ZEPHYR_SDK_INSTALL_DIR" not in env \
            and not list(Path.home().glob("zephyr-sdk-*")) and shutil.which("arm-none-eabi-gcc"):
        env["ZEPHYR_TOOLCHAIN_VARIANT"] = "gnuarmemb"
        env.setdefault("GNUARMEMB_TOOLCHAIN_PATH", str(Path(shutil.which("arm-none-eabi-gcc")).resolve().parents[1]))
    return env


def build_argv(project: ProjectInfo) -> list[str]:
    """`west build -b <zephyr board> -d <project>/build <project>` (+ picolibc for gnuarmemb)."""
    zephyr_base()
    west = require_west()
    root = project.root.resolve()  # west runs in the project folder: absolute paths
    argv = [west, "build", "-b", board_name(project), "-d", str(root / "build"), str(root)]
    cmake_args = []
    if "CONFIG_PICOLIBC=y" in (project.root / "prj.conf").read_text():
        # Debian's picolibc-arm-none-eabi: gnuarmemb does not detect it by itself.
        cmake_args.append("-DTOOLCHAIN_HAS_PICOLIBC=ON")
    return argv + (["--", *cmake_args] if cmake_args else [])


def flash_argv(project: ProjectInfo) -> list[str]:
    return [require_west(), "flash", "-d", str(project.root.resolve() / "build")]
