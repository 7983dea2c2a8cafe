"""Put the harness into a generated project: the common file pair and the generated model table.

Templates compile every `src/*.c`; their own main.c calls harness_serve() and their platform
glue implements the four harness_* platform functions (see docs/harness-protocol.md).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from ..mlf import ModelLibrary
from . import HARNESS_C, HARNESS_H
from .cgen import MODELS_C, models_source

# The arena the cmsis template defines (src/model_data.c) for --workspace user libraries.
TEMPLATE_WORKSPACE_SYMBOL = "aotgen_workspace"


def install_harness(project_root: Path, libs: list[ModelLibrary], src_dir: str = "src") -> list[Path]:
    """Copy aotgen_harness.c/.h and write aotgen_models.c into `project_root/src_dir`."""
    dest = Path(project_root) / src_dir
    dest.mkdir(parents=True, exist_ok=True)
    written = []
    for f in (HARNESS_C, HARNESS_H):
        shutil.copy2(f, dest / f.name)
        written.append(dest / f.name)
    user_ws = any(lib.metadata.get("options", {}).get("workspace") == "user" for lib in libs)
    (dest / MODELS_C).write_text(models_source(libs, TEMPLATE_WORKSPACE_SYMBOL if user_ws else None))
    written.append(dest / MODELS_C)
    return written
