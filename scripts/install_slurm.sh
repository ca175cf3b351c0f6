#!/usr/bin/env bash
# Installs Debian's slurm-wlm and munge for scripts/slurm_smoke.sh (a one-node SLURM on this
# machine). Idempotent; needs root (or sudo) and the Debian package mirror.
set -euo pipefail
if command -v slurmctld >/dev/null && command -v munged >/dev/null; then
  echo "slurm-wlm and munge already installed"
  exit 0
fi
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null
echo "installed slurm-wlm and munge"
