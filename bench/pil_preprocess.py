#!/usr/bin/python3
"""PIL + numpy doing what bench/preprocess_bench.cc times: decode -> convert("RGB") -> smart_resize
-> Image.resize(BICUBIC) -> rescale/normalize -> patch flatten (the transformers
Qwen2VLImageProcessor steps, model-spec §6), at the published default budget.
Prints one JSON object per photo: {"photo", "ms_median", "ms_min", "cpu_ms_median", "patches"}
(wall and process CPU time; numpy may use more than one thread only for BLAS, not used here).
Usage: bench/pil_preprocess.py [PHOTO_DIR] [--reps N]"""
import io
import json
import math
import os
import statistics
import sys
import time

import numpy as np
from PIL import Image

MEAN = np.array([0.48145466, 0.4578275, 0.40821073], np.float32)
STD = np.array([0.26862954, 0.26130258, 0.27577711], np.float32)
PHOTOS = ["cartoon_brave_person.jpeg", "computer_use2.jpeg", "docparsing_example7.jpg",
          "multiple_items.png", "ocr_example2.jpg", "ocr_example3.jpg", "unireco_bird_example.jpg"]


def smart_resize(h, w, factor=28, min_pixels=3136, max_pixels=12845056):
    h_bar, w_bar = round(h / factor) * factor, round(w / factor) * factor
    if h_bar * w_bar > max_pixels:
        beta = math.sqrt(h * w / max_pixels)
        h_bar, w_bar = math.floor(h / beta / factor) * factor, math.floor(w / beta / factor) * factor
    elif h_bar * w_bar < min_pixels:
        beta = math.sqrt(min_pixels / (h * w))
        h_bar, w_bar = math.ceil(h * beta / factor) * factor, math.ceil(w * beta / factor) * factor
    return max(h_bar, factor), max(w_bar, factor)


def preprocess(data):
    img = Image.open(io.BytesIO(data)).convert("RGB")
    h, w = smart_resize(img.height, img.width)
    if (w, h) != img.size:
        img = img.resize((w, h), Image.BICUBIC)
    x = (np.asarray(img, dtype=np.float32) / 255.0 - MEAN) / STD      # [H,W,3]
    x = np.stack([x, x]).transpose(0, 3, 1, 2)                          # [2,3,H,W]
    gh, gw = h // 14, w // 14
    x = x.reshape(1, 2, 3, gh // 2, 2, 14, gw // 2, 2, 14).transpose(0, 3, 6, 4, 7, 2, 1, 5, 8)
    return np.ascontiguousarray(x.reshape(gh * gw, 1176))


def main():
    args = sys.argv[1:]
    reps = 10
    if "--reps" in args:
        i = args.index("--reps")
        reps = int(args[i + 1])
        del args[i:i + 2]
    photo_dir = args[0] if args else os.path.join(os.path.dirname(__file__), "..", "tests", "data",
                                                  "preprocess", "photos")
    for name in PHOTOS:
        data = open(os.path.join(photo_dir, name), "rb").read()
        out = preprocess(data)  # warm-up
        times, cpu = [], []
        for _ in range(reps):
            t0, c0 = time.perf_counter(), time.process_time()
            out = preprocess(data)
            times.append((time.perf_counter() - t0) * 1e3)
            cpu.append((time.process_time() - c0) * 1e3)
        print(json.dumps({"photo": name, "ms_median": statistics.median(times), "ms_min": min(times),
                          "cpu_ms_median": statistics.median(cpu), "patches": out.shape[0]}),
              flush=True)


if __name__ == "__main__":
    main()
