#!/usr/bin/env bash
# Print the path of a Python >= 3.12 interpreter, or explain what is missing and exit 1.
# Order: $HIERMOD_PYTHON, python3.13/python3.12/python3/python on PATH, then pyenv's versions.
set -u
ok() { "$1" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' >/dev/null 2>&1; }
tried=()
candidates=()
[ -n "${HIERMOD_PYTHON:-}" ] && candidates+=("$HIERMOD_PYTHON")
for name in python3.13 python3.12 python3 python; do
    p=$(command -v "$name" 2>/dev/null) && candidates+=("$p")
done
if command -v pyenv >/dev/null 2>&1; then
    root=$(pyenv root 2>/dev/null)
    for v in $(pyenv versions --bare 2>/dev/null | sort -V); do
        candidates+=("$root/versions/$v/bin/python")
    done
fi
for c in "${candidates[@]}"; do
    if ok "$c"; then
        echo "$c"
        exit 0
    fi
    tried+=("$c ($("$c" -c 'import platform; print(platform.python_version())' 2>/dev/null || echo 'not runnable'))")
done
{
    echo "hiermod needs Python >= 3.12 (PyMC 6 requires it), and none was found."
    if [ ${#tried[@]} -gt 0 ]; then
        echo "Interpreters tried:"
        printf '  %s\n' "${tried[@]}"
    else
        echo "No python interpreter at all was found on PATH or under pyenv."
    fi
    echo "Fix: install one (e.g. 'pyenv install 3.12', or your OS package python3.12),"
    echo "or point HIERMOD_PYTHON at an existing one: HIERMOD_PYTHON=/path/to/python3.12 make test"
} >&2
exit 1
