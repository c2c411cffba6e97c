#!/usr/bin/env bash
# qwenvl next to llama.cpp on this CPU, on the same random 3b weights, measured back to back in one
# run, printed as one Markdown table: prefill and decode tok/s per precision (llama-bench against
# qwenvl bench), the vision encoder's ms per picture size (llama-mtmd-cli's "image slice encoded in
# N ms" against qwenvl bench's vision_ms) and the peak RSS of each process (/usr/bin/time -v).
#   bench/compare_llama.sh [QWENVL_BUILD_DIR] [LLAMA_CPP_BUILD_DIR] [GGUF_DIR] [MODEL_DIR]
#   defaults:              build              /work/llama.cpp/build/bin /work/gguf /tmp/qwenvl-3b
# Environment: THREADS (2), PRECISIONS ("bf16 q8 q4"), SIZES ("448x448 1280x960"),
#   PROMPT_TOKENS (512), GEN_TOKENS (64), REPEATS (3), MMPROJ_TYPES ("BF16 F16"),
#   GGUF_STEM (Qwen2.5-VL-3B-rand), LLAMA_BENCH_ARGS (extra llama-bench flags, e.g. "-fa 1"),
#   PHOTO (source of the picture files given to llama-mtmd-cli), STREAM_MB (512), KEEP (set: keep the
#   raw JSON, logs and /usr/bin/time reports in the temporary folder, whose path is printed).
# GGUF_DIR holds GGUF_STEM-{BF16,Q8_0,Q4_K_M}.gguf and mmproj-GGUF_STEM-{BF16,F16}.gguf, made by
# /work/shared/tools/make_gguf.py and llama-quantize from MODEL_DIR; precisions pair as
# bf16 <-> BF16, q8 <-> Q8_0, q4 <-> Q4_K_M (llama.cpp's Q4_K_M keeps some tensors at Q6_K).
# The vision tower of llama.cpp is always a BF16 or F16 mmproj: each vision row is set against the
# fastest of MMPROJ_TYPES.
set -euo pipefail
build=${1:-build}
llama=${2:-/work/llama.cpp/build/bin}
gguf=${3:-/work/gguf}
model=${4:-/tmp/qwenvl-3b}
threads=${THREADS:-2}
precisions=${PRECISIONS:-"bf16 q8 q4"}
sizes=${SIZES:-"448x448 1280x960"}
prompt_tokens=${PROMPT_TOKENS:-512}
gen_tokens=${GEN_TOKENS:-64}
repeats=${REPEATS:-3}
mmproj_types=${MMPROJ_TYPES:-"BF16 F16"}
stem=${GGUF_STEM:-Qwen2.5-VL-3B-rand}
llama_bench_args=${LLAMA_BENCH_ARGS:-}
photo=${PHOTO:-/work/shared/assets/images/unireco_bird_example.jpg}
stream_mb=${STREAM_MB:-512}
qwenvl="$build/qwenvl"
timer=/usr/bin/time

die() { echo "compare_llama: $*" >&2; exit 1; }
[[ -x "$qwenvl" ]] || die "missing $qwenvl: build the qwenvl target"
for t in llama-bench llama-mtmd-cli; do
  [[ -x "$llama/$t" ]] || die "missing $llama/$t: build llama.cpp's $t target"
done
[[ -x "$timer" ]] || die "missing $timer: install Debian's time package (scripts/install-deps.sh)"
[[ -f "$model/config.json" ]] || die "no model in $model: run $qwenvl make-test-model --preset 3b $model"

gguf_type() {
  case "$1" in
    bf16) echo BF16 ;;
    q8) echo Q8_0 ;;
    q4) echo Q4_K_M ;;
    *) die "precision must be bf16, q8 or q4, not $1" ;;
  esac
}
for p in $precisions; do
  f="$gguf/$stem-$(gguf_type "$p").gguf"
  [[ -f "$f" ]] || die "missing $f"
done
for m in $mmproj_types; do
  [[ -f "$gguf/mmproj-$stem-$m.gguf" ]] || die "missing $gguf/mmproj-$stem-$m.gguf"
done
# llama-mtmd-cli needs a text model beside the mmproj; its encode time does not depend on which,
# so the smallest one at hand is loaded.
mtmd_text=""
for t in Q4_K_M Q8_0 BF16; do
  if [[ -f "$gguf/$stem-$t.gguf" ]]; then mtmd_text="$gguf/$stem-$t.gguf"; break; fi
done
[[ -n "$mtmd_text" ]] || die "no text GGUF in $gguf"

# A python with numpy and PIL (for the picture files and the streaming-read figure), if any.
py_np=""
for py in python3 /usr/bin/python3; do
  if command -v "$py" >/dev/null && "$py" -c 'import numpy, PIL' 2>/dev/null; then
    py_np=$py
    break
  fi
done

out=$(mktemp -d)
if [[ -n "${KEEP:-}" ]]; then
  echo "raw outputs kept in $out" >&2
else
  trap 'rm -rf "$out"' EXIT
fi

# The picture files for llama-mtmd-cli, WIDTHxHEIGHT exactly, as qwenvl bench's synthetic picture:
# both are then resized by the same rule (smart resize to multiples of 28 within the pixel budget),
# so both encoders see the same grid (checked below against the token counts).
for size in $sizes; do
  img="$gguf/image-$size.jpg"
  [[ -f "$img" ]] && continue
  [[ -n "$py_np" ]] || die "missing $img and no python3 with PIL to make it"
  "$py_np" - "$photo" "${size%x*}" "${size#*x}" "$img" <<'PY'
import os, sys
import numpy as np
from PIL import Image
src, w, h, dst = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
if os.path.exists(src):
    im = Image.open(src).convert("RGB")
    sw, sh = im.size
    if sw * h > sh * w:  # crop the centre to the asked aspect ratio, then resize
        cw = sh * w // h
        im = im.crop(((sw - cw) // 2, 0, (sw - cw) // 2 + cw, sh))
    else:
        ch = sw * h // w
        im = im.crop((0, (sh - ch) // 2, sw, (sh - ch) // 2 + ch))
    im = im.resize((w, h), Image.BICUBIC)
else:  # encode time does not depend on the content
    im = Image.fromarray(np.random.default_rng(1).integers(0, 256, (h, w, 3), dtype=np.uint8))
im.save(dst, quality=92)
PY
  echo "made $img" >&2
done

# Plain streaming read: one numpy thread summing a buffer far larger than the caches. A floor on
# the machine's read bandwidth, to set the decode GB/s figures against.
stream="not measured (no python3 with numpy)"
if [[ -n "$py_np" ]]; then
  stream=$("$py_np" - "$stream_mb" <<'PY'
import sys, time
import numpy as np
a = np.ones(int(sys.argv[1]) * (1 << 20) // 4, dtype=np.float32)
best = 1e9
for _ in range(5):
    t = time.perf_counter(); a.sum(); best = min(best, time.perf_counter() - t)
print(f"{a.nbytes / best / 1e9:.1f} GB/s (numpy float32 sum over {a.nbytes >> 20} MiB, one thread, best of 5)")
PY
)
fi

# Runs a command under /usr/bin/time -v; its report goes to $1.
timed() {
  local report=$1
  shift
  "$timer" -v -o "$report" "$@"
}

# Text phases: for each precision llama-bench, then qwenvl bench at each picture size.
for p in $precisions; do
  t=$(gguf_type "$p")
  echo "llama-bench $t ..." >&2
  # shellcheck disable=SC2086  # LLAMA_BENCH_ARGS is a list of flags
  timed "$out/lb-$p.time" "$llama/llama-bench" -m "$gguf/$stem-$t.gguf" -t "$threads" \
    -p "$prompt_tokens" -n "$gen_tokens" -r "$repeats" -o json $llama_bench_args \
    >"$out/lb-$p.json" 2>"$out/lb-$p.log" || { cat "$out/lb-$p.log" >&2; die "llama-bench failed"; }
  for size in $sizes; do
    echo "qwenvl bench $size $p ..." >&2
    timed "$out/q-$size-$p.time" "$qwenvl" bench -m "$model" --image-size "$size" \
      --prompt-tokens "$prompt_tokens" --gen-tokens "$gen_tokens" --threads "$threads" \
      --weights "$p" --vision-weights "$p" --repeats "$repeats" --json >"$out/q-$size-$p.json"
  done
done

# Memory of the whole picture-and-text pipeline at the same precision: llama-mtmd-cli with the
# text GGUF of each precision and the first mmproj type, one picture of the first size, against
# qwenvl bench's peak at that size and precision (both hold text and vision weights).
for p in $precisions; do
  echo "llama-mtmd-cli ${sizes%% *} with $(gguf_type "$p") text (memory) ..." >&2
  timed "$out/mr-$p.time" "$llama/llama-mtmd-cli" -m "$gguf/$stem-$(gguf_type "$p").gguf" \
    --mmproj "$gguf/mmproj-$stem-${mmproj_types%% *}.gguf" --image "$gguf/image-${sizes%% *}.jpg" \
    -p "describe" -n 4 -t "$threads" -c 4096 >"$out/mr-$p.log" 2>&1 ||
    { tail -20 "$out/mr-$p.log" >&2; die "llama-mtmd-cli failed"; }
done

# Vision: llama-mtmd-cli once per repeat (it encodes one picture per process); -lv 4 lets its
# "image slice encoded in N ms" line (and the image token count) through.
for size in $sizes; do
  for m in $mmproj_types; do
    for ((r = 0; r < repeats; r++)); do
      echo "llama-mtmd-cli $size mmproj $m ($((r + 1))/$repeats) ..." >&2
      timed "$out/mt-$size-$m-$r.time" "$llama/llama-mtmd-cli" -m "$mtmd_text" \
        --mmproj "$gguf/mmproj-$stem-$m.gguf" --image "$gguf/image-$size.jpg" -p "describe" \
        -n 4 -t "$threads" -c 4096 -lv 4 >"$out/mt-$size-$m-$r.log" 2>&1 ||
        { tail -20 "$out/mt-$size-$m-$r.log" >&2; die "llama-mtmd-cli failed"; }
    done
  done
done

python3 - "$out" "$precisions" "$sizes" "$mmproj_types" "$repeats" <<'PY'
import json, re, statistics, sys
out, precisions, sizes, mmproj_types, repeats = sys.argv[1], *(s.split() for s in sys.argv[2:5]), int(sys.argv[5])
gtype = {"bf16": "BF16", "q8": "Q8_0", "q4": "Q4_K_M"}

def rss_mib(path):
    m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", open(path).read())
    return int(m.group(1)) / 1024 if m else float("nan")

def llama_bench(p):
    rows = json.load(open(f"{out}/lb-{p}.json"))
    pp = next(r for r in rows if r["n_prompt"] > 0 and r["n_gen"] == 0)
    tg = next(r for r in rows if r["n_gen"] > 0 and r["n_prompt"] == 0)
    med = lambda r: statistics.median(r.get("samples_ts") or [r["avg_ts"]])
    return {"pp": med(pp), "tg": med(tg), "size": pp["model_size"], "fa": pp.get("flash_attn"),
            "rss": rss_mib(f"{out}/lb-{p}.time")}

def mtmd(size, m):
    ms, tokens, rss = [], set(), 0.0
    for r in range(repeats):
        log = open(f"{out}/mt-{size}-{m}-{r}.log", errors="replace").read()
        ms += [float(x) for x in re.findall(r"image slice encoded in (\d+) ms", log)]
        tokens.add(sum(int(x) for x in re.findall(r"decoding image batch \d+/\d+, n_tokens_batch = (\d+)", log)))
        rss = max(rss, rss_mib(f"{out}/mt-{size}-{m}-{r}.time"))
    if not ms:
        sys.exit(f"compare_llama: no 'image slice encoded in N ms' in {out}/mt-{size}-{m}-0.log")
    return {"ms": statistics.median(ms), "tokens": sorted(tokens), "rss": rss}

q = {(s, p): json.load(open(f"{out}/q-{s}-{p}.json")) for s in sizes for p in precisions}
# qwenvl's own peak RSS, taken before its streaming-read buffer (which /usr/bin/time would count).
qrss = {k: q[k]["peak_rss_mib"] for k in q}
lb = {p: llama_bench(p) for p in precisions}
mt = {(s, m): mtmd(s, m) for s in sizes for m in mmproj_types}

fmt = lambda v: f"{v:.2f}" if v < 100 else f"{v:.0f}"
print("| phase | precision (qwenvl / llama.cpp) | qwenvl | llama.cpp | ratio | qwenvl peak RSS MiB | llama.cpp peak RSS MiB |")
print("|---|---|---|---|---|---|---|")
s0 = sizes[0]  # the text phases do not depend on the picture: taken from the first size's run
for p in precisions:
    j, l = q[(s0, p)], lb[p]
    pt, gt = j["prompt_tokens"], j["gen_tokens"]
    rows = [
        (f"prefill tok/s (pp{pt})", j["prefill_tokens_per_s"]["median"], l["pp"]),
        (f"decode tok/s (tg{gt})", j["decode_tokens_per_s"]["median"], l["tg"]),
        ("decode weight GB/s", j["effective_gb_per_s"]["median"], l["tg"] * l["size"] / 1e9),
    ]
    for name, qv, lv in rows:
        print(f"| {name} | {p} / {gtype[p]} | {fmt(qv)} | {fmt(lv)} | {qv / lv:.2f}x | "
              f"{qrss[(s0, p)]:.0f} | {l['rss']:.0f} |")
for s in sizes:
    best = min(mmproj_types, key=lambda m: mt[(s, m)]["ms"])
    for p in precisions:
        j = q[(s, p)]
        qv, lv = j["vision_ms"]["median"], mt[(s, best)]["ms"]
        print(f"| vision ms {s} ({j['image']['resized']}) | {p} / mmproj {best} | {qv:.0f} | {lv:.0f} | "
              f"{lv / qv:.2f}x | {qrss[(s, p)]:.0f} | {mt[(s, best)]['rss']:.0f} |")
for p in precisions:
    qv, lv = qrss[(s0, p)], rss_mib(f"{out}/mr-{p}.time")
    print(f"| peak RSS MiB, text and vision weights, one {s0} picture | {p} / {gtype[p]} + mmproj "
          f"{mmproj_types[0]} | {qv:.0f} | {lv:.0f} | {lv / qv:.2f}x | {qv:.0f} | {lv:.0f} |")
print()
print("ratio: qwenvl / llama.cpp for tok/s and GB/s, llama.cpp / qwenvl for ms and MiB: above 1 means qwenvl is faster "
      "or smaller.")
j0 = q[(s0, precisions[0])]
print(f"threads {j0['threads']}, {repeats} repeat(s), medians; llama-bench flash_attn={lb[precisions[0]]['fa']}.")
for p in precisions:
    print(f"- {p}: weights read per decoded token: qwenvl {q[(s0, p)]['weight_bytes_per_token'] / 1e6:.0f} MB, "
          f"llama.cpp {gtype[p]} model size {lb[p]['size'] / 1e6:.0f} MB (used for its GB/s)")
for s in sizes:
    enc = ", ".join(f"{m} {mt[(s, m)]['ms']:.0f} ms" for m in mmproj_types)
    toks = {m: mt[(s, m)]["tokens"] for m in mmproj_types}
    qp = q[(s, precisions[0])]["image"]["patches"]
    print(f"- llama-mtmd-cli {s}: {enc}; image tokens {sorted(set(sum(toks.values(), [])))}, "
          f"qwenvl {qp} patches = {qp // 4} tokens")
sr = [q[k].get("stream_read_gb_per_s", 0) for k in q]
print(f"- streaming read in qwenvl bench ({j0['threads']} threads, 1 GiB, best of 3 per run): "
      f"{min(sr):.1f}-{max(sr):.1f} GB/s")
print("- peak RSS: llama.cpp whole processes (/usr/bin/time -v), qwenvl its own getrusage peak before the "
      "streaming read; qwenvl bench holds text and vision weights, "
      "llama-bench the text GGUF only (mmap), llama-mtmd-cli the mmproj and the smallest text GGUF in the vision rows, the text GGUF of the "
      "row's precision in the RSS rows (-c 4096; qwenvl bench: a prompt of the asked length and its "
      "KV cache).")
PY
echo "- machine streaming read: $stream"
# A source tree unpacked without .git (llama-bench then says build_commit "unknown") may carry the
# commit in UPSTREAM_COMMIT.
commit_file="$llama/../../UPSTREAM_COMMIT"
if [[ -f "$commit_file" ]]; then
  echo "- llama.cpp: commit $(cat "$commit_file")"
fi
