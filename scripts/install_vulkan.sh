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
bash "$(dirname "$0")/apt_install.sh" mesa-vulkan-drivers libvulkan1
test -f "$ICD" || { echo "error: $ICD missing after installing mesa-vulkan-drivers" >&2; exit 1; }
echo "installed lavapipe ($ICD)"
