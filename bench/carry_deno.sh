#!/usr/bin/env bash
# Prepares what the GPU device machine (no network) needs to run dipline's benchmarks; see
# bench/README.md, "On the GPU machine". Run here, in any directory:
#
#   bash bench/carry_deno.sh
#
# It writes, into git-ignored folders at the repository root:
#   .deno-bin/deno.xz          this machine's deno binary, xz -9 (about 30 MB)
#   .deno-bin/deno-dir.tar.xz  a DENO_DIR with the npm packages cli.ts and bench/ import cached
#   .gl/*.deb                  the Vulkan/GL loader packages (the device image lacks libvulkan)
#   engine/cpu/kernels.wasm    the cpu engine's kernels (git-ignored, built here by build:wasm)
# and checks that the tracked tree plus these fit the device tool's 64 MiB limit.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
limit=$((64 * 1024 * 1024))

mkdir -p .deno-bin
deno_bin=$(readlink -f "$(command -v deno)")
if [ ! -s .deno-bin/deno.xz ] || [ "$deno_bin" -nt .deno-bin/deno.xz ]; then
  echo "carry_deno: compressing $deno_bin ($(deno --version | head -n 1))"
  xz -9 -T2 <"$deno_bin" >.deno-bin/deno.xz.tmp
  mv .deno-bin/deno.xz.tmp .deno-bin/deno.xz
fi

deno task build:wasm

# A fresh DENO_DIR holding only what the bench entry points reach (npm packages + transpiled
# modules), so the device runs with --cached-only and never reaches for a registry. The
# backends are listed too: engine/mod.ts imports them by a computed specifier.
deno_dir=$(mktemp -d)
trap 'rm -rf "$deno_dir"' EXIT
entries=(cli.ts bench/side_by_side.ts bench/quality.ts)
for f in engine/webgpu/mod.ts engine/cpu/mod.ts engine/cpu/worker.ts; do
  [ -f "$f" ] && entries+=("$f")
done
echo "carry_deno: caching ${entries[*]} into a fresh DENO_DIR"
DENO_DIR="$deno_dir" deno cache "${entries[@]}"
tar -C "$deno_dir" -cf - . | xz -9 -T2 >.deno-bin/deno-dir.tar.xz

# The Vulkan loader and GL libraries, as /work/.library/device/README.md prescribes.
if ! compgen -G ".gl/libvulkan1_*.deb" >/dev/null; then
  echo "carry_deno: downloading the Vulkan loader .debs into .gl/"
  mkdir -p .gl /tmp/amd64/partial
  o=(-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64)
  apt-get "${o[@]}" update >/dev/null
  (cd .gl && apt-get "${o[@]}" download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2)
fi

tracked=$(git ls-files -z | xargs -0 cat 2>/dev/null | wc -c)
untracked=$(git ls-files -z --others --exclude-standard | xargs -0 -r cat 2>/dev/null | wc -c)
carried=$(cat .deno-bin/* .gl/* engine/cpu/kernels.wasm | wc -c)
# Images staged by `bench/quality.ts --stage .quality-data` travel too (device_quality.sh).
staged=0
[ -d .quality-data ] && staged=$(find .quality-data -type f -print0 | xargs -0 -r cat | wc -c)
carried=$((carried + staged))
total=$((tracked + untracked + carried))
du -h .deno-bin/* .gl/* | sed 's/^/carry_deno: /'
printf 'carry_deno: tracked %d + untracked %d + carried %d (staged images %d) = %.1f MiB of 64 MiB\n' \
  "$tracked" "$untracked" "$carried" "$staged" "$(echo "$total / 1048576" | bc -l)"
if [ "$total" -gt "$limit" ]; then
  echo "carry_deno: expected at most 64 MiB to travel to the device but it would be $total bytes" >&2
  exit 1
fi
carry='".deno-bin", ".gl", "engine/cpu/kernels.wasm"'
[ "$staged" -gt 0 ] && carry="$carry, \".quality-data\""
echo "carry_deno: ready in $root: call the device tool with carry [$carry]"
