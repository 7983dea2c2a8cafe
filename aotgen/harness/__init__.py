"""The serial harness: send inputs to running firmware, run, read outputs and counts back.

Protocol: docs/harness-protocol.md. Device side: project_templates/common/aotgen_harness.c.
"""

from __future__ import annotations

from pathlib import Path

# The device-side file pair every template compiles, and the POSIX host "board".
COMMON_DIR = Path(__file__).resolve().parent.parent / "project_templates" / "common"
HARNESS_C = COMMON_DIR / "aotgen_harness.c"
HARNESS_H = COMMON_DIR / "aotgen_harness.h"
HOST_PLATFORM_C = COMMON_DIR / "host" / "aotgen_harness_host.c"
