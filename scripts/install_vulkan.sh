#!/usr/bin/env bash
# Installs a Vulkan driver that runs on the CPU (Mesa's lavapipe, Debian's mesa-vulkan-drivers)
# and the Vulkan loader, so the wgpu backend has a device on a machine without a GPU (CI).
# Idempotent; needs root (or sudo) and the Debian package mirror.
set -euo pipefail
ICD=/usr/share/vulkan/icd.d/lvp_icd.x86_64.json
if [ -f "$ICD" ] && ldconfig -p | grep -q 'libvulkan.so.1'; then
  echo "lavapipe already installed ($ICD)"
  exit 0
fi
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends mesa-vulkan-drivers libvulkan1 >/dev/null
test -f "$ICD" || { echo "error: $ICD missing after installing mesa-vulkan-drivers" >&2; exit 1; }
echo "installed lavapipe ($ICD)"
