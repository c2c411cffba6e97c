#!/usr/bin/python3
"""Cuts the part of fixtures/preprocess/video.safetensors that tests/media/patchify_test.cc needs:
frames 2..4 of the synthetic video and, of the 5-frame processor output (grid 3x14x18, the 5th
frame repeated), the first 32 rows of temporal patch 1 and the first 64 of temporal patch 2.
Usage: /usr/bin/python3 make_video_subset.py /work/shared/fixtures/preprocess/video.safetensors"""
import json
import struct
import sys

import numpy as np

from make_pil_cases import write_safetensors


def read(path):
    data = open(path, "rb").read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    out = {}
    for k, v in header.items():
        if k == "__metadata__":
            continue
        a, b = v["data_offsets"]
        dt = {"U8": np.uint8, "F32": np.float32}[v["dtype"]]
        out[k] = np.frombuffer(data[8 + n + a:8 + n + b], dt).reshape(v["shape"])
    return out


t = read(sys.argv[1])
rows = 14 * 18
pv = t["pixel_values_videos_5frames"]
write_safetensors("video_subset.safetensors", {
    "frames_2_to_4": t["frames"][2:5],
    "pv5_t1_rows_0_32": pv[rows:rows + 32],
    "pv5_t2_rows_0_64": pv[2 * rows:2 * rows + 64],
})
