#!/usr/bin/env bash
# What `make run` (argument `run`) or `make test` (argument `test`, the default) needs from the
# machine beyond Python, installed from Debian's packages when it can (root on Debian or Ubuntu),
# otherwise one line naming the command to run, before anything long starts.
#   run:  python3-venv (the virtualenvs)
#   test: that, chromium + chromium-driver (the browser tests), and, optional, docker.io +
#         debootstrap (the `sam local` tier; without them that tier reports itself skipped,
#         with the reason, in the test summary)
set -euo pipefail
for_what="${1:-test}"

required=()
optional=()
probe="$(mktemp -d)"
python3 -m venv "$probe/venv" >/dev/null 2>&1 || required+=(python3-venv)
rm -rf "$probe"
if [[ "$for_what" == test ]]; then
    [[ -x "${CHROMIUM:-/usr/bin/chromium}" ]] || required+=(chromium)
    [[ -x "${CHROMEDRIVER:-/usr/bin/chromedriver}" ]] || required+=(chromium-driver)
    # A docker client alone (some images ship one) is not Docker: the daemon is what runs containers.
    if ! docker info >/dev/null 2>&1 && ! command -v dockerd >/dev/null 2>&1; then
        optional+=(docker.io)
    fi
    command -v debootstrap >/dev/null 2>&1 || optional+=(debootstrap)
fi

can_install=false
if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null 2>&1; then
    can_install=true
fi

if ((${#required[@]} + ${#optional[@]})) && $can_install; then
    echo "[prepare] apt-get install ${required[*]} ${optional[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${required[@]}" "${optional[@]}" >/dev/null
elif ((${#required[@]})); then
    echo "make $for_what needs ${required[*]}: run  sudo apt-get install -y ${required[*]}  (macOS: see the README's prerequisites)" >&2
    exit 1
fi

[[ "$for_what" == test ]] || exit 0

# Docker's daemon: started here when it is installed but not running (no systemd in containers
# and CI machines), so that the sam local tier runs wherever it can.
if command -v docker >/dev/null 2>&1 && ! docker info >/dev/null 2>&1; then
    if [[ "$(id -u)" == 0 ]] && command -v dockerd >/dev/null 2>&1; then
        mkdir -p .cache
        echo "[prepare] starting dockerd (log: .cache/dockerd.log)"
        nohup dockerd >.cache/dockerd.log 2>&1 &
        for _ in $(seq 60); do
            docker info >/dev/null 2>&1 && break
            sleep 0.5
        done
    fi
    docker info >/dev/null 2>&1 || echo "[prepare] docker is installed but its daemon is not running: the sam local tier will be skipped" >&2
fi
exit 0
