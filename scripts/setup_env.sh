#!/usr/bin/env bash
# Create the project's virtual environment (default .venv) with a Python >= 3.12 and install
# hiermod (editable) with its test extras, pinned by requirements-lock.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${1:-.venv}
py=$(scripts/find_python.sh)
echo "hiermod set-up: using $py ($("$py" --version 2>&1)) for $venv"
if [ ! -x "$venv/bin/python" ]; then
    "$py" -m venv "$venv"
fi
"$venv/bin/python" -m pip install -q --upgrade pip
"$venv/bin/python" -m pip install -q -c requirements-lock.txt -e ".[test,jax]"
touch "$venv/.installed"
echo "hiermod set-up: done ($venv)"
