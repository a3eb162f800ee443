#!/usr/bin/env bash
# README's main command: set up a fresh machine, then run the seed's example workflows through
# dagster-ext's K8s run launcher, K8s step executor and Celery-queue executor on a local
# Kubernetes control plane with PostgreSQL storage.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec python scripts/demo.py
