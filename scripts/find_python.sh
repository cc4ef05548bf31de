#!/usr/bin/env bash
# Print the path of a working Python 3.12 (pyenv's 3.12.1, or python3.12 on PATH); exit 1 if none.
# A pyenv shim named python3.12 can exist without running, so each candidate is tried.
for candidate in "$(PYENV_VERSION=3.12.1 pyenv which python3 2>/dev/null)" "$(command -v python3.12 2>/dev/null)" /usr/bin/python3.12; do
  if [ -n "$candidate" ] && PYENV_VERSION=3.12.1 "$candidate" -c 'import sys; assert sys.version_info[:2] == (3, 12)' 2>/dev/null; then
    echo "$candidate"
    exit 0
  fi
done
exit 1
