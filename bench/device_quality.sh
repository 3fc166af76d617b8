#!/usr/bin/env bash
# Runs slices of the full quality protocol (bench/quality.ts) on the GPU device machine, from the
# repository root, after bench/carry_deno.sh prepared .deno-bin/ and .gl/ and
# `deno task bench:quality --task T --stage .quality-data` copied that task's images here; the
# device tool carries all four paths (see bench/README.md, "Full protocol on the GPU machine"):
#
#   bash bench/device_quality.sh denoise|sr|inpaint [--only a,b] [more bench/quality.ts flags]
#   bash bench/device_quality.sh --detach denoise|sr|inpaint --budget-s N [--only a,b] [flags]
#   bash bench/device_quality.sh wait
#   bash bench/device_quality.sh calibrate      dipline webgpu ms/step at 512² and 256² (denoise preset)
#
# A plain slice stops itself inside the device's 10-minute limit: quality.ts gets --budget-s
# (what is left of QUALITY_BUDGET_S, default 560 s, after unpacking), skips the fits that would
# not finish and rewrites $OUT/quality-<task>-<time>.json after every image, so even a killed
# slice returns the images it finished. The log goes beside it (.log).
#
# --detach is for fits longer than one command (an 11000-step inpainting fit at 512² above about
# 47 ms/step): it starts quality.ts in its own process session (setsid), which the device keeps
# running after the command returns for as long as the machine is held, with the --budget-s you
# give (e.g. 1650 for three commands), then waits like `wait`. `wait` waits for that run for up
# to QUALITY_WAIT_S (default 560 s) after unpacking and copies its JSON and log into $OUT. Call
# `wait` again at once (the machine goes back 30 s after a call ends, and the run with it) until
# it prints "finished". DEVICE_ENV replaces bench/device_env.sh (a stub that sets DENO, to try
# this script on a machine without the device's packages).
set -uo pipefail
detach=0
if [ "${1:-}" = "--detach" ]; then
  detach=1
  shift
fi
task=${1:-}
shift || true
out=${OUT:-/tmp/quality-out}
bg=/tmp/quality-bg
mkdir -p "$out"

case "$task" in
  denoise | sr | inpaint) ;;
  calibrate | wait) [ "$detach" = 0 ] || {
    echo "device_quality: expected a task after --detach but received \"$task\"" >&2
    exit 2
  } ;;
  *)
    echo "device_quality: expected denoise, sr, inpaint, calibrate or wait as the first argument but received \"$task\"" >&2
    exit 2
    ;;
esac
data=.quality-data
case "$task" in denoise | sr | inpaint)
  if [ ! -f "$data/anchors.csv" ]; then
    echo "device_quality: expected the staged images in $data/ (carry it) but found no $data/anchors.csv" >&2
    exit 2
  fi
  ;;
esac

# The Vulkan loader, the NVIDIA ICD, Deno and its DENO_DIR (shared with device_run.sh).
source "${DEVICE_ENV:-bench/device_env.sh}"

if [ "$task" = calibrate ]; then
  for s in 512 256; do
    echo "== dipline webgpu denoise preset ${s}²"
    "$DENO" run -A --cached-only cli.ts bench --engine webgpu --size "$s" --steps 20 --warmup 3 --json |
      tee "$out/calibrate-webgpu-$s.json"
  done
  exit 0
fi

# Copies the detached run's JSON and log into $OUT; says whether it is still running.
collect() {
  cp "$bg"/quality-*.json "$bg"/quality-*.log "$out/" 2>/dev/null || true
  if [ -f "$bg/pid" ] && kill -0 "$(cat "$bg/pid")" 2>/dev/null; then
    echo "device_quality: the detached run is still running ($(tail -n 1 "$bg"/quality-*.log 2>/dev/null)); call \"bash bench/device_quality.sh wait\" again now"
  else
    echo "device_quality: the detached run finished"
  fi
}

if [ "$task" = wait ]; then
  if [ ! -f "$bg/pid" ]; then
    echo "device_quality: expected a detached run in $bg but there is none (the machine was given back?)" >&2
    exit 1
  fi
  limit=$((${QUALITY_WAIT_S:-560} - SECONDS))
  while [ "$SECONDS" -lt "$limit" ] && kill -0 "$(cat "$bg/pid")" 2>/dev/null; do sleep 5; done
  collect
  exit 0
fi

stamp="$task-$(date +%H%M%S)"
flags=(--engine webgpu --task "$task" --data "$data")
if [ "$detach" = 1 ]; then
  case " $* " in *" --budget-s "*) ;; *)
    echo "device_quality: expected --budget-s N with --detach (the seconds the run may take over all its calls)" >&2
    exit 2
    ;;
  esac
  rm -rf "$bg" && mkdir -p "$bg"
  echo "== quality $task $* (detached)"
  setsid "$DENO" run -A --cached-only bench/quality.ts "${flags[@]}" \
    --json-out "$bg/quality-$stamp.json" "$@" >"$bg/quality-$stamp.log" 2>&1 </dev/null &
  echo $! >"$bg/pid"
  limit=$((${QUALITY_WAIT_S:-560} - SECONDS))
  while [ "$SECONDS" -lt "$limit" ] && kill -0 "$(cat "$bg/pid")" 2>/dev/null; do sleep 5; done
  collect
  exit 0
fi

budget=$((${QUALITY_BUDGET_S:-560} - SECONDS))
echo "== quality $task $* (budget ${budget} s)"
"$DENO" run -A --cached-only bench/quality.ts "${flags[@]}" --budget-s "$budget" \
  --json-out "$out/quality-$stamp.json" "$@" 2>&1 | tee "$out/quality-$stamp.log"
