#!/bin/sh
# Long videos: wall time and peak RSS of `qwenvl preprocess --video` and of a whole `qwenvl run`,
# next to the time `ffmpeg -threads 2 -f null -` takes to decode the same file, all measured in one
# run of this script on this machine. Clips are FFmpeg `testsrc` at 30 fps, H.264 (libx264
# veryfast, or PRESET), made once into CLIP_DIR; a clip longer than 20 minutes, in whole 20 minutes, is the
# 20-minute clip of its size repeated, joined without re-encoding (FFmpeg's concat demuxer: the same
# stream, the timestamps continued), which saves an hour of encoding at 1080p.
# Usage: bench/long_video.sh [QWENVL [MODEL_DIR]]
#   QWENVL     the binary to measure (default: build/qwenvl); BEFORE=/path/to/other/qwenvl adds its
#              figures on the same clips for a before/after table
#   MODEL_DIR  the model `run` uses (default: a tiny preset written by make-test-model)
#   CLIPS      "MINUTESxHEIGHT ..." (default "20x360"; e.g. "20x360 60x360 20x1080 60x1080")
#   CLIP_DIR   where clips are kept between runs (default: /tmp/qwenvl-long-video)
#   PRESET     libx264 preset of the clips (default veryfast; ultrafast encodes 1080p several
#              times faster, into a stream without B-frames that is cheaper to decode)
#   RUN_ARGS   extra `run` options (default: --fps 0.1 --ctx 32768: 120 frames of a 20-minute clip,
#              a prompt that fits)
# Needs Debian's ffmpeg (the command line) and GNU time (/usr/bin/time).
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
qwenvl=${1:-$root/build/qwenvl}
model=${2:-}
clips=${CLIPS:-20x360}
dir=${CLIP_DIR:-/tmp/qwenvl-long-video}
run_args=${RUN_ARGS:---fps 0.1 --ctx 32768}
preset=${PRESET:-veryfast}
suffix=$([ "$preset" = veryfast ] && echo "" || echo "-$preset")
threads=2
command -v ffmpeg >/dev/null || { echo "needs the ffmpeg command (apt-get install ffmpeg)" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "needs GNU time (apt-get install time)" >&2; exit 1; }
mkdir -p "$dir"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if [ -z "$model" ]; then
  model=$tmp/tiny
  "$qwenvl" make-test-model --preset tiny "$model" >/dev/null 2>&1
fi

# measure NAME CMD...: prints "NAME wall_s peak_MiB" (GNU time's elapsed and maximum RSS).
measure() {
  name=$1
  shift
  if /usr/bin/time -v -o "$tmp/time" "$@" >"$tmp/out" 2>"$tmp/err"; then
    awk -v n="$name" '/Elapsed \(wall clock\)/ { split($NF, t, ":"); w = (length(t) == 3) ? t[1] * 3600 + t[2] * 60 + t[3] : t[1] * 60 + t[2] }
      /Maximum resident set size/ { r = $NF / 1024 } END { printf "%-40s %8.1f s %9.1f MiB\n", n, w, r }' "$tmp/time"
  else
    printf "%-40s failed: %s\n" "$name" "$(tail -c 300 "$tmp/err")"
  fi
}

echo "# $(date -u +%Y-%m-%d) $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')," \
  "family $(grep -m1 'cpu family' /proc/cpuinfo | cut -d: -f2 | tr -d ' ')" \
  "model $(grep -m1 '^model\s' /proc/cpuinfo | cut -d: -f2 | tr -d ' '), $(nproc) cores"
for c in $clips; do
  minutes=${c%x*}
  height=${c#*x}
  width=$((height * 16 / 9))
  clip=$dir/testsrc-${minutes}min-${height}p$suffix.mp4
  if [ ! -f "$clip" ] && [ "$minutes" -gt 20 ] && [ $((minutes % 20)) -eq 0 ]; then
    base=$dir/testsrc-20min-${height}p$suffix.mp4
    if [ ! -f "$base" ]; then
      ffmpeg -hide_banner -loglevel error -y -f lavfi -i "testsrc=size=${width}x${height}:rate=30" \
        -t 1200 -c:v libx264 -preset "$preset" -pix_fmt yuv420p "$base.tmp.mp4"
      mv "$base.tmp.mp4" "$base"
    fi
    i=0
    : >"$tmp/list"
    while [ $i -lt $((minutes / 20)) ]; do
      echo "file '$base'" >>"$tmp/list"
      i=$((i + 1))
    done
    ffmpeg -hide_banner -loglevel error -y -f concat -safe 0 -i "$tmp/list" -c copy "$clip.tmp.mp4"
    mv "$clip.tmp.mp4" "$clip"
  fi
  if [ ! -f "$clip" ]; then
    ffmpeg -hide_banner -loglevel error -y -f lavfi -i "testsrc=size=${width}x${height}:rate=30" \
      -t $((minutes * 60)) -c:v libx264 -preset "$preset" -pix_fmt yuv420p "$clip.tmp.mp4"
    mv "$clip.tmp.mp4" "$clip"
  fi
  echo "## $minutes min ${width}x${height} 30 fps H.264 $preset ($(du -m "$clip" | cut -f1) MB)"
  measure "ffmpeg -threads $threads -f null -" ffmpeg -hide_banner -loglevel error -threads $threads \
    -i "$clip" -f null -
  measure "qwenvl preprocess --video" "$qwenvl" preprocess --video "$clip" --threads $threads \
    --out /dev/null
  if [ -n "${BEFORE:-}" ]; then
    measure "before: qwenvl preprocess --video" "$BEFORE" preprocess --video "$clip" \
      --threads $threads --out /dev/null
  fi
  # shellcheck disable=SC2086  # run_args is a list of options
  measure "qwenvl run ($(basename "$model"))" "$qwenvl" run -m "$model" --video "$clip" \
    -p "What happens in the video?" --max-tokens 8 --threads $threads $run_args
  if [ -n "${BEFORE:-}" ]; then
    # shellcheck disable=SC2086
    measure "before: qwenvl run ($(basename "$model"))" "$BEFORE" run -m "$model" --video "$clip" \
      -p "What happens in the video?" --max-tokens 8 --threads $threads $run_args
  fi
done
