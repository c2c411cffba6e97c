#!/usr/bin/env python3
"""Writes fixture_video.safetensors from ../../shared fixtures/preprocess/video.safetensors: the
synthetic `frames` [8,196,252,3] U8 as they are, and every 11th row of `pixel_values_videos` (all 8
frames) and `pixel_values_videos_5frames` (first 5 frames), with the kept row numbers in `<name>.rows`
(I64). Plain Python, no numpy. Usage: make_fixture_subset.py SRC DST"""
import json
import struct
import sys

STRIDE = 11


def read(path):
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    out = {}
    for name, e in header.items():
        if name != "__metadata__":
            a, b = e["data_offsets"]
            out[name] = (e["dtype"], e["shape"], raw[8 + n + a:8 + n + b])
    return out


def write(path, tensors):
    header, blobs, off = {}, [], 0
    for name, (dtype, shape, data) in tensors.items():
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [off, off + len(data)]}
        blobs.append(data)
        off += len(data)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    open(path, "wb").write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


src = read(sys.argv[1])
out = {"frames": src["frames"]}
for key in ("pixel_values_videos", "pixel_values_videos_5frames"):
    dtype, (nrows, ncols), data = src[key]
    assert dtype == "F32"
    rows = list(range(0, nrows, STRIDE))
    out[key + ".rows"] = ("I64", [len(rows)], struct.pack("<%dq" % len(rows), *rows))
    out[key] = ("F32", [len(rows), ncols], b"".join(data[r * ncols * 4:(r + 1) * ncols * 4] for r in rows))
write(sys.argv[2], out)
