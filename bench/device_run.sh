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

# The Vulkan loader, the NVIDIA ICD, Deno and its DENO_DIR (shared with device_quality.sh).
source bench/device_env.sh

for s in "${sizes[@]}"; do
  echo "== dipline webgpu ${s}²"
  "$DENO" run -A --cached-only cli.ts bench --engine webgpu --size "$s" --json | tee "$out/dipline-webgpu-$s.json"
  echo "== torch cuda ${s}² (tf32)"
  python3 bench/torch_dip.py --device cuda --size "$s" --json | tee "$out/torch-cuda-$s.json"
  echo "== torch cuda ${s}² (fp32)"
  python3 bench/torch_dip.py --device cuda --no-tf32 --size "$s" --json | tee "$out/torch-cuda-fp32-$s.json"
done

if [ "$cpu" = 1 ]; then
  echo "== side by side on $(nproc) cores: dipline cpu vs torch-cpu"
  "$DENO" run -A --cached-only bench/side_by_side.ts --engine cpu --torch-device cpu \
    --threads "$(nproc)" --json | tee "$out/side-by-side-cpu.json"
fi
