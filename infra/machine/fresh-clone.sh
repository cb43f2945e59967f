#!/usr/bin/env bash
# A new user's first `make test`: a clean clone in a temporary folder, no virtualenv, a PATH of
# the system's folders only (no pyenv shims, no ~/.local/bin), and the time it took.
#   infra/machine/fresh-clone.sh                  # the clone of this repository's HEAD
#   infra/machine/fresh-clone.sh --no-python312   # and hide every python3.12 (no PYTHON312, an
#                                                 # empty PYENV_ROOT): what a fresh Debian has
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
workdir="$(mktemp -d /tmp/fresh-clone.XXXXXX)"
pyenv_root="${PYENV_ROOT:-$HOME/.pyenv}"
if [[ "${1:-}" == "--no-python312" ]]; then
    pyenv_root="$workdir/no-pyenv"
fi
git clone --quiet "$repo" "$workdir/repo"
echo "[fresh-clone] $workdir/repo at $(git -C "$workdir/repo" rev-parse --short HEAD)"
start=$(date +%s)
status=0
env -i HOME="$HOME" LANG=C.UTF-8 TERM=dumb CI="${CI:-}" PYENV_ROOT="$pyenv_root" \
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    make -C "$workdir/repo" test || status=$?
echo "[fresh-clone] make test exited $status after $(( $(date +%s) - start )) s"
exit "$status"
