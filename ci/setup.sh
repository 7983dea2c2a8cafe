#!/usr/bin/env bash
# Set up a fresh Debian machine (or re-check this one) for aotgen: system packages, then
# .venv with aotgen installed editable plus its test extra. Idempotent and non-interactive.
#   AOTGEN_FORCE_APT=1  always run apt-get update + install (CI does), not only when a package is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

# Toolchains the tests and the later pipeline stages run (host gcc, Arm gcc + newlib, QEMU; AVR gcc +
# avr-libc, Debian's arduino-builder + AVR core, simavr + libsimavr-dev for the simavr bridge).
APT_PACKAGES=(gcc make binutils gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm python3 python3-venv
              gcc-avr avr-libc binutils-avr simavr libsimavr-dev arduino-builder arduino-core-avr
              binutils-arm-none-eabi openocd stlink-tools cmake ninja-build device-tree-compiler
              ser2net)
# (The last lines: flashers, the Zephyr build tools, and ser2net, which labgrid exporters serve
# serial ports with (tests/test_farm.py). Tests that need a missing tool skip rather
# than fail, so CI must install them all to run the whole suite.)

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [[ ${#missing[@]} -gt 0 || "${AOTGEN_FORCE_APT:-0}" == 1 ]]; then
    sudo=()
    if [[ "$(id -u)" -ne 0 ]]; then
        command -v sudo >/dev/null || { echo "setup: not root and no sudo; install: ${APT_PACKAGES[*]}" >&2; exit 1; }
        sudo=(sudo)
    fi
    echo "setup: installing system packages: ${APT_PACKAGES[*]}"
    "${sudo[@]}" apt-get update
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y "${APT_PACKAGES[@]}"
fi

PYTHON=${PYTHON:-python3}
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    echo "setup: aotgen needs Python >= 3.11; $PYTHON is $("$PYTHON" -V 2>&1). Set PYTHON=/path/to/python3.11." >&2
    exit 1
fi
[[ -x .venv/bin/python ]] || "$PYTHON" -m venv .venv

# Reinstall only when the dependencies changed (the install itself is editable). The farm extra
# (labgrid) too: tests/test_farm.py runs a real coordinator and exporter.
EXTRAS=test,farm
stamp=.venv/.aotgen-installed
want="$(sha256sum pyproject.toml | cut -d' ' -f1) $EXTRAS"
if [[ "$(cat "$stamp" 2>/dev/null)" != "$want" ]] || ! .venv/bin/python -c 'import aotgen' 2>/dev/null; then
    echo "setup: installing aotgen and its test and farm dependencies into .venv"
    .venv/bin/python -m pip install --disable-pip-version-check -q -e ".[$EXTRAS]"
    echo "$want" > "$stamp"
fi
echo "setup: ready ($(.venv/bin/aotgen --version))"
