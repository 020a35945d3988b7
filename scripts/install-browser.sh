#!/bin/sh
# Install Debian's chromium for the browser tests (tests/test_browser.py) if it is not
# on PATH. Idempotent and silent when chromium is already installed. Needs root (or
# sudo) and apt-get; playwright drives this system browser, so no browser download.
set -eu

if command -v chromium >/dev/null 2>&1; then
    exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "install-browser.sh: chromium is missing and apt-get is not available; install chromium yourself." >&2
    exit 1
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO="sudo"
    else
        echo "install-browser.sh: installing chromium needs root." >&2
        exit 1
    fi
fi

echo "install-browser.sh: installing chromium with apt-get ..." >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null
command -v chromium >/dev/null 2>&1 || { echo "install-browser.sh: chromium still not on PATH." >&2; exit 1; }
echo "install-browser.sh: $(chromium --version 2>/dev/null || echo chromium installed)" >&2
