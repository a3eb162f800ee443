#!/usr/bin/env bash
# Installs everything dagster-ext's tests and demo need on a fresh Debian machine, idempotently:
# Python packages, the Debian servers used by the tests (Redis, PostgreSQL), and the Kubernetes
# control-plane binaries built from Go modules (cached under ~/.cache/dagster-ext; minutes on the
# first run, seconds afterwards).
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v redis-server >/dev/null 2>&1 || need_apt+=(redis-server)
[ -x /usr/lib/postgresql/15/bin/postgres ] || ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || need_apt+=(postgresql)
command -v unshare >/dev/null 2>&1 || need_apt+=(util-linux)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup: apt-get install ${need_apt[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
  # Debian starts the packaged services; the tests run their own on loopback.
  (service redis-server stop || true) >/dev/null 2>&1
  (service postgresql stop || true) >/dev/null 2>&1
fi

if ! python -c "import dagster_ext, dagster_k8s, dagster_celery, hypothesis" >/dev/null 2>&1 \
   || ! pip show dagster-ext-k8s >/dev/null 2>&1; then
  echo "setup: pip install -e .[test]"
  python -m pip install -q --disable-pip-version-check -e ".[test]"
fi

# Kubernetes binaries (kube-apiserver, kube-controller-manager, etcd): built once, then cached.
if python -c "import dagster_ext.testing.cluster.binaries" >/dev/null 2>&1; then
  dagster-ext cluster build
fi
