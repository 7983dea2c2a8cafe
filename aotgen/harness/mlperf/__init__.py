"""MLPerf Tiny: firmware the MLCommons benchmark runner drives, and aotgen's own driver for it.

Device side: project_templates/common/aotgen_mlperf.[ch] (the runner's text protocol) with the
generated aotgen_mlperf_model.c (cgen.py). Host side: link.py (commands and strict answers),
driver.py (performance and accuracy runs), samples.py (the benchmark's raw sample files).
docs/mlperf.md describes both and how to run the official runner.
"""

from __future__ import annotations

from .. import COMMON_DIR

MLPERF_C = COMMON_DIR / "aotgen_mlperf.c"
MLPERF_H = COMMON_DIR / "aotgen_mlperf.h"
