#!/usr/bin/env bash
# Sourced (not run) on the GPU device machine by bench/device_run.sh and bench/device_quality.sh,
# from the repository root, after bench/carry_deno.sh prepared .deno-bin/ and .gl/ here and the
# device tool carried them (see bench/README.md, "On the GPU machine"):
#
#   source bench/device_env.sh        then run "$DENO" run -A --cached-only …
#
# Installs the Vulkan loader, points it at the NVIDIA ICD and unpacks Deno and its DENO_DIR
# into /tmp. A machine kept warm between calls still has them: the unpacking is skipped when
# /tmp/deno-dir carries the stamp of the archives that made it.

for f in .gl/*.deb; do dpkg -x "$f" /; done
ldconfig
# The NVIDIA Vulkan ICD is mounted here on the device image (device README).
export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
export __EGL_VENDOR_LIBRARY_FILENAMES=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json

# xz may be missing on the image; Python's lzma always is there.
unxz_to() { python3 -c 'import lzma,shutil,sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' "$1" "$2"; }
stamp=$(cksum .deno-bin/deno.xz .deno-bin/deno-dir.tar.xz | tr '\n' ' ')
if [ -x /tmp/deno ] && [ "$(cat /tmp/deno-dir/.stamp 2>/dev/null)" = "$stamp" ]; then
  echo "device_env: Deno and DENO_DIR already unpacked in /tmp (warm machine)"
else
  unxz_to .deno-bin/deno.xz /tmp/deno && chmod +x /tmp/deno
  unxz_to .deno-bin/deno-dir.tar.xz /tmp/deno-dir.tar
  rm -rf /tmp/deno-dir && mkdir -p /tmp/deno-dir && tar -C /tmp/deno-dir -xf /tmp/deno-dir.tar
  rm -f /tmp/deno-dir.tar
  echo "$stamp" >/tmp/deno-dir/.stamp
fi
export DENO=/tmp/deno DENO_DIR=/tmp/deno-dir DENO_NO_UPDATE_CHECK=1
"$DENO" --version | head -n 1
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv,noheader || true
