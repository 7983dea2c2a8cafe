"""Model Library Format: the folder (or tarball) `aotgen compile` writes and templates consume.

Layout and header API: docs/model-library-format.md.
"""

from __future__ import annotations

import shutil
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..errors import AotgenError
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


def load(path: str | Path) -> ModelLibrary:
    """Read a Model Library Format folder, or a tarball (extracted to a temporary folder)."""
    path = Path(path)
    if path.is_file() and tarfile.is_tarfile(path):
        dest = Path(tempfile.mkdtemp(prefix="aotgen-mlf-"))
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


def refuse_overwrite(dest: str | Path, force: bool) -> None:
    """Outputs never replace a non-empty folder or an existing file unless asked to."""
    dest = Path(dest)
    if dest.exists() and (dest.is_file() or any(dest.iterdir())) and not force:
        raise AotgenError(f"{dest} exists and is not empty; use --force to overwrite it")


def publish(staging: Path, dest: Path, force: bool) -> Path:
    """Move a fully written staging folder to `dest` (or tar it if dest ends in .tar).

    Output is generated into a temporary folder first so a failure never leaves a half-written
    destination; an existing non-empty destination is only replaced with `force`.
    """
    dest = Path(dest)
    refuse_overwrite(dest, force)
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.suffix == ".tar":
        tmp_tar = dest.with_name(dest.name + ".partial")
        with tarfile.open(tmp_tar, "w") as tar:
            for item in sorted(staging.iterdir()):
                tar.add(item, arcname=item.name)
        tmp_tar.replace(dest)
        shutil.rmtree(staging, ignore_errors=True)
        return dest
    if dest.exists():
        shutil.rmtree(dest) if dest.is_dir() else dest.unlink()
    shutil.move(str(staging), str(dest))
    return dest


def staging_dir(dest: Path) -> Path:
    """A temporary folder on the same file system as `dest`, so the final move is a rename."""
    parent = Path(dest).resolve().parent
    parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".{Path(dest).name}.", dir=parent))
