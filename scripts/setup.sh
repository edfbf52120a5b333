#!/usr/bin/env bash
# Set up a Debian machine for mirror-agent development and CI; safe to run again.
#
# Installs podman, skopeo, docker-registry (the tests run their own instances on free
# loopback ports, so the packaged service is stopped and disabled), apache2-utils
# (`htpasswd -B`, bcrypt files for registries with basic auth), mmdebstrap (the image
# test bootstraps a minimal Debian base from the machine's apt sources) and prometheus
# (promtool tests the alert rules; the monitoring test scrapes the exporter with a real
# Prometheus; the packaged service is stopped and disabled), then creates .venv
# and installs the project with its test extras. Runs as root, or through sudo otherwise.
#
# Quick when nothing changed: apt-get only runs when a package is missing, pip only when
# pyproject.toml changed since the last successful install. When another apt-get or dpkg
# holds the package manager's lock, it waits for it (up to 20 minutes) instead of failing.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
    SUDO=(sudo)
fi

PACKAGES=(
    podman
    skopeo
    docker-registry
    apache2-utils # htpasswd -B (bcrypt) for the lab's basic-auth registries
    python3
    python3-venv
    util-linux # unshare, mount: the lab runs podman/skopeo in a private mount namespace
    mmdebstrap # the image test's Debian base (tests/image_lab.py)
    prometheus # promtool (alert rule tests) and a real Prometheus scraping the exporter
)

missing=()
for package in "${PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q '^install ok installed$'; then
        missing+=("$package")
    fi
done

export DEBIAN_FRONTEND=noninteractive
LOCK_WAIT=1200 # seconds

# apt-get, waiting while another package manager run holds a lock: DPkg::Lock::Timeout
# covers dpkg's frontend lock; `apt-get update` takes the lists lock without waiting, so a
# busy lock is also retried here.
apt_get() {
    local waited=0 output status
    while true; do
        status=0
        output=$("${SUDO[@]}" apt-get -o DPkg::Lock::Timeout="$LOCK_WAIT" -qq "$@" 2>&1) || status=$?
        if [ "$status" -eq 0 ]; then
            return 0
        fi
        if grep -qE 'Could not get lock|Unable to (acquire|lock)' <<<"$output" && [ "$waited" -lt "$LOCK_WAIT" ]; then
            [ "$waited" -eq 0 ] && echo "setup: waiting for another apt-get/dpkg to finish" >&2
            sleep 5
            waited=$((waited + 5))
            continue
        fi
        printf '%s\n' "$output" >&2
        return "$status"
    done
}

if [ "${#missing[@]}" -gt 0 ]; then
    echo "setup: installing ${missing[*]}"
    apt_get update
    apt_get install -y "${missing[@]}"
fi

# The docker-registry and prometheus packages ship services (:5000, :9090); the tests run
# their own instances and never use them.
for service in docker-registry prometheus; do
    if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
        "${SUDO[@]}" systemctl disable --now "$service.service" >/dev/null 2>&1 || true
    elif [ -x "/etc/init.d/$service" ]; then
        if "${SUDO[@]}" "/etc/init.d/$service" status >/dev/null 2>&1; then
            "${SUDO[@]}" "/etc/init.d/$service" stop >/dev/null 2>&1 || true
        fi
        if command -v update-rc.d >/dev/null 2>&1; then
            "${SUDO[@]}" update-rc.d "$service" disable >/dev/null 2>&1 || true
        fi
    fi
done

# kubectl: the fake API server's fidelity test and `kubectl kustomize daemonset/` use the
# real one. The python machine image ships it; install it only where it is missing.
if ! command -v kubectl >/dev/null 2>&1; then
    apt_get install -y kubectl ||
        echo "setup: kubectl is not available from apt; its tests will fail" >&2
fi

for tool in podman skopeo docker-registry htpasswd unshare mmdebstrap promtool prometheus; do
    command -v "$tool" >/dev/null 2>&1 || {
        echo "setup: $tool is still missing after apt-get install" >&2
        exit 1
    }
done

# A .venv made for another checkout (copied, or committed by mistake) runs that
# checkout's interpreter from its scripts' shebangs and imports that checkout's code.
venv_is_ours() {
    [ -x .venv/bin/python ] && [ -f .venv/bin/pip ] &&
        head -n 1 .venv/bin/pip | grep -qF "#!$PWD/.venv/bin/python"
}
if ! venv_is_ours; then
    echo "setup: creating .venv"
    rm -rf .venv
    python3 -m venv .venv
fi

stamp=.venv/.mirror-agent-setup
wanted="$PWD $(sha256sum pyproject.toml | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$wanted" ] || ! .venv/bin/python -c 'import agent' 2>/dev/null; then
    echo "setup: pip install -e '.[test]'"
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
    echo "$wanted" >"$stamp"
fi

echo "setup: ok"
