"""Model Library Format: the folder (or tarball) `aotgen compile` writes and templates consume.

Layout and header API: docs/model-library-format.md.
"""

from __future__ import annotations

import atexit
import shutil
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..jsonfile import read_versioned
from .tensors import TensorInfo

SCHEMA_VERSION = 1


@dataclass
class ModelLibrary:
    """A compiled model on disk, as read back from its metadata.json."""

    root: Path
    metadata: dict

    @property
    def prefix(self) -> str:
        return self.metadata["prefix"]

    @property
    def inputs(self) -> list[TensorInfo]:
        return [TensorInfo.from_json(t) for t in self.metadata["inputs"]]

    @property
    def outputs(self) -> list[TensorInfo]:
        return [TensorInfo.from_json(t) for t in self.metadata["outputs"]]

    @property
    def workspace_bytes(self) -> int:
        return int(self.metadata["workspace_bytes"])

    @property
    def constant_bytes(self) -> int:
        return int(self.metadata["constant_bytes"])

    @property
    def include_dir(self) -> Path:
        return self.root / "codegen" / "host" / "include"

    @property
    def header(self) -> Path:
        return self.include_dir / f"{self.prefix}.h"

    @property
    def sources(self) -> list[Path]:
        return [self.root / s for s in self.metadata["sources"]]

    @property
    def objects(self) -> list[Path]:
        return [self.root / s for s in self.metadata.get("objects", [])]

    @property
    def model_file(self) -> Path | None:
        f = self.root / "src" / self.metadata["model"]["file"]
        return f if f.exists() else None


_extracted: list[Path] = []


@atexit.register
def _remove_extracted() -> None:
    for d in _extracted:
        shutil.rmtree(d, ignore_errors=True)


def load(path: str | Path) -> ModelLibrary:
    """Read a Model Library Format folder, or a tarball (extracted to a temporary folder, removed
    when the process exits)."""
    path = Path(path)
    if path.is_file() and tarfile.is_tarfile(path):
        dest = Path(tempfile.mkdtemp(prefix="aotgen-mlf-"))
        _extracted.append(dest)
        with tarfile.open(path) as tar:
            tar.extractall(dest, filter="data")
        path = dest
    metadata = read_versioned(path / "metadata.json", SCHEMA_VERSION,
                              f"{path} is not a Model Library Format folder or tarball (no metadata.json)")
    return ModelLibrary(root=path, metadata=metadata)


def is_model_library(path: str | Path) -> bool:
    path = Path(path)
    return (path / "metadata.json").is_file() or (
        path.is_file() and path.suffix == ".tar" and tarfile.is_tarfile(path)
    )
