"""A generated project as read back from its aotgen_project.json: what `build`, `flash`, `test`
and the fit check read. project.py writes the file; this module only reads it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..compiler import mlf
from ..compiler.mlf import ModelLibrary
from ..jsonfile import read_versioned
from .apps import DEFAULT_APP
from .boards import Board, load_board, load_board_file

PROJECT_FILE = "aotgen_project.json"
PROJECT_SCHEMA_VERSION = 1


@dataclass
class ProjectInfo:
    """A generated project, as read back from its aotgen_project.json."""

    root: Path
    data: dict
    _board: Board | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def board_name(self) -> str:
        return self.data["board"]["name"]

    def board(self) -> Board:
        """The board file the project was generated from (it may have come from AOTGEN_BOARDS_PATH,
        which later commands need not set); by name when that file is gone. Read once."""
        if self._board is None:
            source = self.data["board"].get("source")
            self._board = load_board_file(Path(source)) if source and Path(source).is_file() \
                else load_board(self.board_name)
        return self._board

    @property
    def template(self) -> str:
        return self.data["template"]

    @property
    def prefixes(self) -> list[str]:
        return [m["prefix"] for m in self.data["models"]]

    @property
    def flash_limit(self) -> int:
        return int(self.data["board"]["flash_bytes"])

    @property
    def ram_limit(self) -> int:
        return int(self.data["board"]["ram_bytes"])

    def libraries(self) -> list[ModelLibrary]:
        """The model libraries as copied into the project (models/<prefix>/, full MLF folders)."""
        return [mlf.load(self.root / "models" / p) for p in self.prefixes]

    @property
    def build_system(self) -> str:
        """How the project builds: make (cmsis), arduino, west (zephyr)."""
        return self.data.get("build", {}).get("system", "make")

    @property
    def context(self) -> dict[str, Any]:
        """The template's top-level variables as rendered (sketch_name, stack_bytes, ...)."""
        return self.data.get("context", {})

    @property
    def template_settings(self) -> dict[str, Any]:
        """The board file's settings for this template (Arduino FQBN, Zephyr board name)."""
        return self.data.get("template_settings", {})

    @property
    def app(self) -> dict[str, Any]:
        """What the firmware's main runs (aotgen.firmware.apps): {"name": "harness"|...}."""
        return self.data.get("app", {"name": DEFAULT_APP})

    @property
    def elf(self) -> Path:
        return self.root / self.data.get("build", {}).get("elf", "build/firmware.elf")

    def test_input(self, prefix: str, c_name: str) -> np.ndarray:
        for m in self.data["models"]:
            if m["prefix"] == prefix:
                for t in m["inputs"]:
                    if t["c_name"] == c_name:
                        return np.load(self.root / t["file"])
        raise KeyError(f"{prefix}.{c_name}")


def load_project(path: str | Path) -> ProjectInfo:
    root = Path(path)
    data = read_versioned(root / PROJECT_FILE, PROJECT_SCHEMA_VERSION,
                          f"{root} is not an aotgen project (no {PROJECT_FILE}); create one with `aotgen project`")
    return ProjectInfo(root=root, data=data)
