#!/usr/bin/env bash
# Make sure a headless Chromium is available for tests/test_html_report.py (which opens the
# HTML report in a real browser). No-op when one is installed; otherwise installs Debian's
# `chromium` package with apt-get (as root, or through sudo). Exits 1, saying why, when it
# cannot; the browser test then fails (it never skips).
#   HIERMOD_CHROMIUM=/path/to/chromium   use that browser instead (checked, not installed)
set -u
if [ -n "${HIERMOD_CHROMIUM:-}" ]; then
    if [ -x "$HIERMOD_CHROMIUM" ]; then
        echo "test browser: using HIERMOD_CHROMIUM=$HIERMOD_CHROMIUM"
        exit 0
    fi
    echo "test browser: HIERMOD_CHROMIUM=$HIERMOD_CHROMIUM is not an executable" >&2
    exit 1
fi
for name in chromium chromium-browser; do
    if command -v "$name" >/dev/null 2>&1; then
        echo "test browser: $(command -v "$name") present"
        exit 0
    fi
done
if ! command -v apt-get >/dev/null 2>&1; then
    echo "test browser: ERROR: no chromium and no apt-get to install it; install Chromium and/or set HIERMOD_CHROMIUM. tests/test_html_report.py will fail." >&2
    exit 1
fi
if [ "$(id -u)" -eq 0 ]; then
    sudo=""
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    sudo="sudo -n"
else
    echo "test browser: ERROR: chromium is missing and installing it needs root: run 'sudo apt-get install -y chromium' (or set HIERMOD_CHROMIUM). tests/test_html_report.py will fail." >&2
    exit 1
fi
echo "test browser: installing Debian's chromium (apt-get) ..."
if $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null; then
    echo "test browser: installed $(command -v chromium)"
    exit 0
fi
echo "test browser: ERROR: 'apt-get install chromium' failed; tests/test_html_report.py will fail." >&2
exit 1
