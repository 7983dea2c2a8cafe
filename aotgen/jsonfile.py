"""Versioned JSON files aotgen writes and reads back (metadata.json, aotgen_project.json)."""

from __future__ import annotations

import json
from pathlib import Path

from .errors import AotgenError


def read_versioned(path: Path, version: int, missing: str) -> dict:
    """The file's JSON, checked for `schema_version == version`; `missing` is the error text
    when the file does not exist."""
    if not path.is_file():
        raise AotgenError(missing)
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise AotgenError(f"{path}: invalid JSON ({e})") from None
    if data.get("schema_version") != version:
        raise AotgenError(f"{path}: schema_version {data.get('schema_version')!r}, this aotgen reads {version}; "
                          "regenerate it with this aotgen")
    return data
