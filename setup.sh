#!/usr/bin/env bash
# Install everything tinycompress needs on a Debian machine: the Debian packages (C compilers,
# Cortex-M toolchain, QEMU, the Fashion-MNIST data set, Chromium for the report tests) and a
# Python virtual environment in .venv with the package and its extras. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")"

APT_PACKAGES=(gcc g++ clang libc6-dev python3-venv cmake gcc-arm-none-eabi libnewlib-arm-none-eabi
              qemu-system-arm dataset-fashion-mnist chromium)

missing=()
for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null || { echo "setup: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
        SUDO="sudo"
    fi
    echo "setup: installing Debian packages: ${missing[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    echo "setup: creating .venv with $($PYTHON --version)"
    "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
echo "setup: installing tinycompress and its dependencies into .venv (TensorFlow is large)"
.venv/bin/python -m pip install -q -e '.[all]'
echo "setup: done. Run: .venv/bin/tinycompress --help"
