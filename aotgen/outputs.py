"""Writing output folders without ever losing a user's file.

Every folder aotgen writes (a model library, a project, saved samples) is generated in a staging
folder beside it, then moved into place, and carries a manifest (MANIFEST) listing the files
aotgen put there. A non-empty destination is refused unless `force`; with `force` it must be a
folder aotgen wrote (its manifest), and only the files the manifest lists are replaced: anything
the user added stays. The current folder, its parents, the home folder and `/` are never written
into. Interrupted runs leave no staging folder behind (callers remove it; SIGTERM is turned into
an exit that runs their cleanup).
"""

from __future__ import annotations

import json
import os
import shutil
import tarfile
import tempfile
from pathlib import Path

from .errors import AotgenError
from .version import __version__

MANIFEST = ".aotgen-manifest.json"


def _describe(entries: list[Path], limit: int = 4) -> str:
    names = sorted(e.name + ("/" if e.is_dir() else "") for e in entries)
    more = f", … ({len(names)} entries)" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def read_manifest(folder: Path) -> list[str] | None:
    """The files aotgen wrote into `folder`, or None if it has no (readable) manifest."""
    try:
        data = json.loads((folder / MANIFEST).read_text())
    except (OSError, ValueError):
        return None
    files = data.get("files") if isinstance(data, dict) else None
    return [f for f in files if isinstance(f, str)] if isinstance(files, list) else None


def _protected(dest: Path) -> str | None:
    """Why `dest` must never be written into, or None."""
    real = dest.resolve()
    if real == Path(real.anchor):
        return "the root folder"
    if real == Path.home().resolve():
        return "your home folder"
    if Path.cwd().resolve().is_relative_to(real):
        return "the current folder" if real == Path.cwd().resolve() else "a parent of the current folder"
    return None


def refuse_overwrite(dest: str | Path, force: bool) -> None:
    """Refuse, before any work, a destination that writing would lose files in."""
    dest = Path(dest)
    if not dest.exists() and not dest.is_symlink():
        return
    if not dest.is_dir():
        if not force:
            raise AotgenError(f"{dest} exists; use --force to replace it")
        if not (dest.suffix == ".tar" and tarfile.is_tarfile(dest) and _is_library_tar(dest)):
            raise AotgenError(f"{dest} exists and is not a library aotgen wrote; --force replaces only aotgen's own "
                              "output: give another path")
        return
    entries = list(dest.iterdir())
    if not entries:
        return
    why = _protected(dest)
    if why:
        raise AotgenError(f"refusing to write into {dest}: it is {why}, which holds {_describe(entries)}; "
                          "give a new folder with -o")
    if not force:
        raise AotgenError(f"{dest} is not empty (it holds {_describe(entries)}); use --force to replace what aotgen "
                          "wrote there, or give another folder")
    if read_manifest(dest) is None:
        raise AotgenError(f"{dest} was not written by aotgen (no {MANIFEST}); --force replaces only aotgen's own "
                          f"output and would lose {_describe(entries)}: empty it yourself or give another folder")


def _is_library_tar(path: Path) -> bool:
    try:
        with tarfile.open(path) as tar:
            return "metadata.json" in tar.getnames()
    except (OSError, tarfile.TarError):
        return False


def staging_dir(dest: str | Path) -> Path:
    """A temporary folder on the same file system as `dest`, so the final move is a rename."""
    parent = Path(dest).resolve().parent
    parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".{Path(dest).name}.", dir=parent))


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def publish(staging: Path, dest: str | Path, force: bool, kind: str) -> Path:
    """Move a fully written staging folder to `dest` (or tar it if dest ends in .tar), with a
    manifest of its files; an existing destination is refused or, with `force`, has only aotgen's
    own files replaced (refuse_overwrite's rules)."""
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
    files = sorted(str(p.relative_to(staging)) for p in staging.rglob("*") if p.is_file() or p.is_symlink())
    (staging / MANIFEST).write_text(json.dumps({"generator": "aotgen", "version": __version__, "kind": kind,
                                                "files": files}, indent=1) + "\n")
    if not dest.exists():
        shutil.move(str(staging), str(dest))
        os.chmod(dest, 0o777 & ~_umask())  # mkdtemp made it private; a created folder follows the umask
        return dest
    old = set(read_manifest(dest) or [])
    clashes = [f for f in files if (dest / f).exists() and f not in old]
    if clashes:
        raise AotgenError(f"{dest / clashes[0]} was not written by aotgen and would be overwritten; move it away first")
    for f in sorted(old):
        target = dest / f
        if target.is_relative_to(dest) and (target.is_file() or target.is_symlink()):
            target.unlink()
    for d in sorted({(dest / f).parent for f in old}, key=lambda p: len(p.parts), reverse=True):
        while d != dest and d.is_dir() and not any(d.iterdir()):  # folders emptied by the removal
            d.rmdir()
            d = d.parent
    for f in [*files, MANIFEST]:
        (dest / f).parent.mkdir(parents=True, exist_ok=True)
        os.replace(staging / f, dest / f)
    shutil.rmtree(staging, ignore_errors=True)
    return dest
