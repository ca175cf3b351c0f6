#!/usr/bin/env bash
# Installs Debian packages without questions: scripts/apt_install.sh PACKAGE...
# (root or sudo, and the Debian package mirror). Used by install_vulkan.sh and install_slurm.sh.
set -euo pipefail
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
