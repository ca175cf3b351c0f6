#!/usr/bin/env bash
# Installs Debian's slurm-wlm and munge for scripts/slurm_smoke.sh (a one-node SLURM on this
# machine). Idempotent; needs root (or sudo) and the Debian package mirror.
set -euo pipefail
if command -v slurmctld >/dev/null && command -v munged >/dev/null; then
  echo "slurm-wlm and munge already installed"
  exit 0
fi
bash "$(dirname "$0")/apt_install.sh" slurm-wlm munge
echo "installed slurm-wlm and munge"
