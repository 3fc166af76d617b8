#!/usr/bin/env bash
# Runs on the GPU device machine, from the repository root, after bench/carry_deno.sh prepared
# .deno-bin/ and .gl/ here and the device tool carried them (see bench/README.md):
#
#   bash bench/device_run.sh [--cpu] [SIZE…]        default sizes: 512
#
# Unpacks the Vulkan loader and Deno, then for each size runs dipline's webgpu bench and the
# PyTorch CUDA twin (TF32 on, PyTorch's default, and off: dipline computes in fp32), one after
# the other, writing one JSON file per run into $OUT (or /tmp/bench-out). With --cpu it also
# runs bench/side_by_side.ts on the machine's cores (dipline cpu engine vs torch-cpu, default
# configurations). The device tool brings back at most 8 files: 3 per size, 1 for --cpu.
set -uo pipefail
cpu=0
if [ "${1:-}" = "--cpu" ]; then cpu=1; shift; fi
sizes=("${@:-512}")
out=${OUT:-/tmp/bench-out}
mkdir -p "$out"

for f in .gl/*.deb; do dpkg -x "$f" /; done
ldconfig
# The NVIDIA Vulkan ICD is mounted here on the device image (device README).
export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
export __EGL_VENDOR_LIBRARY_FILENAMES=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json

# xz may be missing on the image; Python's lzma always is there.
unxz_to() { python3 -c 'import lzma,shutil,sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' "$1" "$2"; }
unxz_to .deno-bin/deno.xz /tmp/deno && chmod +x /tmp/deno
unxz_to .deno-bin/deno-dir.tar.xz /tmp/deno-dir.tar
mkdir -p /tmp/deno-dir && tar -C /tmp/deno-dir -xf /tmp/deno-dir.tar
export DENO_DIR=/tmp/deno-dir DENO_NO_UPDATE_CHECK=1
/tmp/deno --version | head -n 1
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv,noheader || true

for s in "${sizes[@]}"; do
  echo "== dipline webgpu ${s}²"
  /tmp/deno run -A --cached-only cli.ts bench --engine webgpu --size "$s" --json | tee "$out/dipline-webgpu-$s.json"
  echo "== torch cuda ${s}² (tf32)"
  python3 bench/torch_dip.py --device cuda --size "$s" --json | tee "$out/torch-cuda-$s.json"
  echo "== torch cuda ${s}² (fp32)"
  python3 bench/torch_dip.py --device cuda --no-tf32 --size "$s" --json | tee "$out/torch-cuda-fp32-$s.json"
done

if [ "$cpu" = 1 ]; then
  echo "== side by side on $(nproc) cores: dipline cpu vs torch-cpu"
  /tmp/deno run -A --cached-only bench/side_by_side.ts --engine cpu --torch-device cpu \
    --threads "$(nproc)" --json | tee "$out/side-by-side-cpu.json"
fi
