"""The README's two opening commands stay true: the scripts exist, .ci/run runs the README's
test command verbatim, and the demo's shipped models are the published files, unmodified."""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

import pytest

from aotgen_testlib import MODELS, REPO, SHARED


def readme_commands() -> list[str]:
    block = re.search(r"```sh\n(.*?)```", (REPO / "README.md").read_text(), re.S)
    assert block, "README has no opening sh block"
    return [line.split("#")[0].strip() for line in block.group(1).splitlines() if line.strip()]


def test_readme_opens_with_demo_and_tests() -> None:
    demo, tests = readme_commands()
    assert demo == "./ci/demo.sh"
    assert "pytest" in tests
    for script in ("ci/setup.sh", "ci/demo.sh", ".ci/run"):
        path = REPO / script
        assert path.is_file() and os.access(path, os.X_OK), f"{script} missing or not executable"
        assert path.read_text().startswith("#!/usr/bin/env bash\n") and "set -euo pipefail" in path.read_text()


def test_ci_runs_the_readme_test_command() -> None:
    _, tests = readme_commands()
    ci_lines = [line.strip() for line in (REPO / ".ci/run").read_text().splitlines()]
    assert tests in ci_lines, f".ci/run does not run the README's test command: {tests}"


def test_test_models_are_the_files_their_readme_lists() -> None:
    """tests/models/README.md gives every model's full sha256; the files must match them."""
    listed = dict(re.findall(r"^\| `([\w/.]+\.tflite)` \| ([0-9a-f]{64}) \|$", (MODELS / "README.md").read_text(), re.M))
    present = {str(p.relative_to(MODELS)) for p in MODELS.rglob("*.tflite")}
    assert set(listed) == present and present
    for name, digest in listed.items():
        assert hashlib.sha256((MODELS / name).read_bytes()).hexdigest() == digest, name
        io = MODELS / Path(name).parent / "io" / Path(name).stem
        assert (io / "input_0.npy").is_file() and (io / "output_0.npy").is_file(), name


def test_test_models_equal_the_shared_ones_when_present() -> None:
    shared = SHARED / "models"
    if not shared.is_dir():
        pytest.skip(f"no shared folder at {SHARED} to compare with")
    for ours in MODELS.rglob("*"):
        if ours.is_file() and ours.name != "README.md":
            theirs = shared / ours.relative_to(MODELS)
            assert theirs.is_file() and theirs.read_bytes() == ours.read_bytes(), ours


def test_shipped_models_are_the_published_files(shared_models: Path) -> None:
    shipped = {"kws_ref_model.tflite": "mlperf_tiny", "hello_world_int8.tflite": "tflite_micro"}
    notes = (REPO / "examples/models/README.md").read_text()
    for name, source in shipped.items():
        ours = (REPO / "examples/models" / name).read_bytes()
        assert hashlib.sha256(ours).digest() == hashlib.sha256((MODELS / source / name).read_bytes()).digest()
        assert name in notes
    assert "Apache-2.0" in notes and "1afd2c9820f7" in notes and "90b983c2b3f1" in notes
