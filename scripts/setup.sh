#!/usr/bin/env bash
# Installs everything dagster-ext's tests and demo need on a fresh Debian machine, idempotently:
# the Debian packages (Redis and PostgreSQL for the tests; containerd, runc, CNI plugins and the image
# tools for the local node), a project virtualenv `.venv` with a current pip (never the machine's
# Python), and the Kubernetes binaries and image registry built from Go modules (cached under
# ~/.cache/dagster-ext; minutes on the first run, seconds afterwards).
set -euo pipefail
cd "$(dirname "$0")/.."

# command or file -> Debian package
declare -A want=(
  [redis-server]=redis-server
  [unshare]=util-linux
  [containerd]=containerd
  [runc]=runc
  [/usr/lib/cni/bridge]=containernetworking-plugins
  [umoci]=umoci
  [skopeo]=skopeo
  [mmdebstrap]=mmdebstrap
  [/bin/busybox]=busybox-static
  [iptables]=iptables
  [ip]=iproute2
  [conntrack]=conntrack
)
need_apt=()
for probe in "${!want[@]}"; do
  if [[ "$probe" == /* ]]; then [ -e "$probe" ] || need_apt+=("${want[$probe]}")
  else command -v "$probe" >/dev/null 2>&1 || need_apt+=("${want[$probe]}"); fi
done
ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || need_apt+=(postgresql)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup: apt-get install ${need_apt[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
  # Debian starts the packaged services; the tests and the local node run their own.
  for service in redis-server postgresql containerd; do
    (service "$service" stop || true) >/dev/null 2>&1
  done
fi

# The project's own virtualenv: a fresh resolve with a current pip, checked for consistency.
if [ ! -x .venv/bin/python ] \
   || ! .venv/bin/python -c "import dagster_ext, dagster_k8s, dagster_celery, dagster_postgres, hypothesis" >/dev/null 2>&1; then
  echo "setup: virtualenv .venv, pip install -e .[test]"
  python3 -m venv .venv
  .venv/bin/python -m pip install -q --disable-pip-version-check -U pip
  .venv/bin/python -m pip install -q --disable-pip-version-check -e ".[test]"
fi
.venv/bin/python -m pip check
.venv/bin/python -c "import dagster_postgres, dagster_k8s, dagster_celery"

# Kubernetes binaries and the node's image registry: built once, then cached.
.venv/bin/dagster-ext cluster build >/dev/null
# The images of the local node (user-code, busybox, sandbox): rebuilt only where stale.
.venv/bin/dagster-ext image build >/dev/null
