#!/usr/bin/env bash
# The demo: compile the shipped keyword-spotting model to C, then build that C on this machine
# and compare it with TFLite's reference interpreter on random inputs.
set -euo pipefail
cd "$(dirname "$0")/.."
ci/setup.sh >/dev/null

set -x
.venv/bin/aotgen compile examples/models/kws_ref_model.tflite --prefix kws -o build/kws --force
.venv/bin/aotgen check-host examples/models/kws_ref_model.tflite --prefix kws --count 5
.venv/bin/aotgen check-host examples/models/hello_world_int8.tflite --count 5
