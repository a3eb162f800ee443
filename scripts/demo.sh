#!/usr/bin/env bash
# README's main command: set up a fresh machine, then run the seed's example workflows through
# dagster-ext's K8s run launcher, K8s step executor and Celery-queue executor on a local
# Kubernetes cluster (a real node: kubelet, containerd, runc) with PostgreSQL storage.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python scripts/demo.py
