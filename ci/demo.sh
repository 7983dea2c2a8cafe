#!/usr/bin/env bash
# The demo: the whole loop on the shipped keyword-spotting model. Compile it to C, generate and
# build a bare-metal firmware for an Arm Cortex-M7 board that QEMU emulates (mps2_an500), run it in
# QEMU, send it inputs over the serial harness and compare its outputs with TFLite's reference.
set -euo pipefail
cd "$(dirname "$0")/.."
ci/setup.sh >/dev/null

set -x
.venv/bin/aotgen run examples/models/kws_ref_model.tflite --board mps2_an500 --count 5
