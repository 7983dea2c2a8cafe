"""Put the harness into a generated project: the common file pair and the generated model table.
aotgen.project.generate_project adds them to every project; the template's main.c calls
harness_serve().

Templates compile every `src/*.c`; their platform glue (the cmsis template's src/harness_port.c)
implements the four harness_* platform functions (see docs/harness-protocol.md).
"""

from __future__ import annotations

from pathlib import Path

from ..compiler.mlf import ModelLibrary
from . import HARNESS_C, HARNESS_H
from .cgen import MODELS_C, models_source

# The arena templates define (the cmsis template's src/workspace.c) for --workspace user libraries.
TEMPLATE_WORKSPACE_SYMBOL = "aotgen_workspace"


def harness_files(libs: list[ModelLibrary], src_dir: str = "src") -> dict[str, str | Path]:
    """Project-relative path -> text or file to copy, for generate_project(extra_files=...)."""
    user_ws = any(lib.metadata.get("options", {}).get("workspace") == "user" for lib in libs)
    return {
        f"{src_dir}/{HARNESS_C.name}": HARNESS_C,
        f"{src_dir}/{HARNESS_H.name}": HARNESS_H,
        f"{src_dir}/{MODELS_C}": models_source(libs, TEMPLATE_WORKSPACE_SYMBOL if user_ws else None),
    }
