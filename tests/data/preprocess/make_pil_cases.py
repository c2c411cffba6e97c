#!/usr/bin/python3
"""Generates the PIL reference data for tests/media (run with Debian's python3, Pillow 9.4.0).

Writes:
  pil_resize.safetensors  synthetic sources `src.N` [h,w,3] U8 and PIL bicubic results `out.N.WxH`
  decode/*                small images in many PNG/JPEG/WebP/GIF/BMP variants
  pil_decode.safetensors  PIL's Image.open(f).convert("RGB") of each, keyed by file name
  pil_version.txt         the Pillow and codec versions that made them
Usage: cd tests/data/preprocess && /usr/bin/python3 make_pil_cases.py
"""
import io
import json
import os
import struct
import zlib

import numpy as np
from PIL import Image, features


def write_safetensors(path, tensors):
    header, blobs, off = {}, [], 0
    for name, arr in tensors.items():
        arr = np.ascontiguousarray(arr)
        dt = {np.uint8: "U8", np.float32: "F32", np.int64: "I64"}[arr.dtype.type]
        b = arr.tobytes()
        header[name] = {"dtype": dt, "shape": list(arr.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def smooth_noise(h, w, seed):
    """Noise plus gradients, so both flat and busy areas (and clipping) are exercised."""
    rng = np.random.RandomState(seed)
    y, x = np.mgrid[0:h, 0:w]
    base = np.stack([(x * 255 // max(w - 1, 1)), (y * 255 // max(h - 1, 1)), ((x + y) * 7) % 256], -1)
    noise = rng.randint(0, 256, (h, w, 3))
    mask = rng.rand(h, w, 1) < 0.3
    return np.where(mask, noise, base).astype(np.uint8)


def resize_cases():
    sources = [(37, 53), (1, 40), (40, 1), (1, 1), (97, 64), (300, 211)]
    targets = {0: [(53, 37), (112, 84), (28, 28), (9, 61), (200, 150), (1, 1), (53, 36), (52, 37)],
               1: [(28, 28), (40, 3), (56, 1), (13, 1)],
               2: [(28, 28), (1, 56), (3, 40)],
               3: [(28, 28), (5, 3)],
               4: [(56, 84), (64, 97), (31, 200), (130, 99)],
               5: [(56, 84), (196, 280), (211, 300), (213, 301), (28, 672)]}
    out = {}
    for i, (h, w) in enumerate(sources):
        src = smooth_noise(h, w, i)
        out[f"src.{i}"] = src
        im = Image.fromarray(src, "RGB")
        for (tw, th) in targets[i]:
            out[f"out.{i}.{tw}x{th}"] = np.asarray(im.resize((tw, th), Image.BICUBIC))
    write_safetensors("pil_resize.safetensors", out)


def png_chunk(t, d):
    return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))


def raw_png(w, h, depth, ctype, rows, extra=b""):
    raw = b"".join(b"\x00" + r for r in rows)
    ihdr = struct.pack(">IIBBBBB", w, h, depth, ctype, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + extra +
            png_chunk(b"IDAT", zlib.compress(raw)) + png_chunk(b"IEND", b""))


def decode_cases():
    rgb = smooth_noise(23, 31, 7)
    rgba = np.dstack([rgb, np.arange(23 * 31, dtype=np.uint8).reshape(23, 31, 1)])
    gray = rgb[:, :, 0]
    files = {}

    def save(name, im, fmt, **kw):
        b = io.BytesIO()
        im.save(b, fmt, **kw)
        files[name] = b.getvalue()

    save("rgb.png", Image.fromarray(rgb), "PNG")
    save("rgba.png", Image.fromarray(rgba, "RGBA"), "PNG")
    save("gray.png", Image.fromarray(gray, "L"), "PNG")
    save("la.png", Image.fromarray(rgba[:, :, 2:4].copy(), "LA"), "PNG")
    pal = Image.fromarray(rgb).quantize(16)
    save("palette4.png", pal, "PNG", bits=4)
    save("palette_trns.png", pal, "PNG", transparency=3)
    save("gray_trns.png", Image.fromarray(gray, "L"), "PNG", transparency=17)
    save("bilevel.png", Image.fromarray(gray, "L").convert("1"), "PNG")
    g16 = (gray.astype(np.int32) * 3)  # values up to 765: PIL clips them to 255
    save("gray16.png", Image.fromarray(g16, "I"), "PNG")
    rows16 = [struct.pack(">%dH" % (31 * 3), *[(v * 257 + 91) & 0xFFFF for v in r.reshape(-1)]) for r in rgb]
    files["rgb16.png"] = raw_png(31, 23, 16, 2, rows16)
    rows2 = [bytes(((r[4 * i] >> 6) << 6) | ((r[4 * i + 1] >> 6) << 4) | ((r[4 * i + 2] >> 6) << 2) | (r[4 * i + 3] >> 6)
                   for i in range(8)) for r in np.pad(gray, ((0, 0), (0, 1)))]
    files["gray2.png"] = raw_png(32, 23, 2, 0, rows2)
    files["short_plte.png"] = raw_png(3, 1, 8, 3, [bytes([0, 1, 200])],
                                      png_chunk(b"PLTE", bytes([10, 20, 30, 40, 50, 60])))
    save("q90.jpg", Image.fromarray(rgb), "JPEG", quality=90)
    save("q75_420.jpg", Image.fromarray(smooth_noise(37, 45, 3)), "JPEG", quality=75, subsampling=2)
    save("progressive.jpg", Image.fromarray(smooth_noise(37, 45, 4)), "JPEG", quality=80, progressive=True)
    save("gray.jpg", Image.fromarray(gray, "L"), "JPEG", quality=90)
    save("cmyk.jpg", Image.fromarray(rgba, "CMYK"), "JPEG", quality=90)
    save("lossy.webp", Image.fromarray(rgb), "WEBP", quality=80)
    save("lossless_alpha.webp", Image.fromarray(rgba, "RGBA"), "WEBP", lossless=True)
    save("lossy_alpha.webp", Image.fromarray(rgba, "RGBA"), "WEBP", quality=70)
    save("pal.gif", pal, "GIF")
    save("interlaced.gif", pal, "GIF", interlace=True)
    save("trns.gif", pal, "GIF", transparency=5)
    save("rgb24.bmp", Image.fromarray(rgb), "BMP")
    save("pal8.bmp", Image.fromarray(rgb).quantize(200), "BMP")
    save("pal4.bmp", pal, "BMP")
    save("bilevel.bmp", Image.fromarray(gray, "L").convert("1"), "BMP")
    save("gray8.bmp", Image.fromarray(gray, "L"), "BMP")
    save("rgba32.bmp", Image.fromarray(rgba, "RGBA"), "BMP")
    files["gif_offset_frame.gif"] = offset_gif()
    expected = {}
    for name, data in sorted(files.items()):
        with open(os.path.join("decode", name), "wb") as f:
            f.write(data)
        expected[name] = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    write_safetensors("pil_decode.safetensors", expected)


def offset_gif():
    """A GIF89a whose only frame (3x2 at 2,1) is smaller than the 6x4 screen, no local table."""
    screen = b"GIF89a" + struct.pack("<HHBBB", 6, 4, 0xF1, 0, 0)  # global table of 4 colours
    table = bytes([9, 8, 7, 200, 0, 0, 0, 200, 0, 0, 0, 200])
    gce = b"\x21\xf9\x04\x01\x00\x00\x02\x00"  # transparent index 2
    desc = b"\x2c" + struct.pack("<HHHHB", 2, 1, 3, 2, 0)
    pixels = bytes([0, 1, 2, 3, 1, 0])
    # Uncompressed-style LZW: code size 2, clear code before every pixel keeps codes 3 bits wide.
    bits, nbits = 0, 0
    out = bytearray()
    for p in pixels:
        for code in (4, p):
            bits |= code << nbits
            nbits += 3
    bits |= 5 << nbits
    nbits += 3
    while nbits > 0:
        out.append(bits & 0xFF)
        bits >>= 8
        nbits -= 8
    return screen + table + gce + desc + b"\x02" + bytes([len(out)]) + bytes(out) + b"\x00\x3b"


if __name__ == "__main__":
    os.makedirs("decode", exist_ok=True)
    resize_cases()
    decode_cases()
    with open("pil_version.txt", "w") as f:
        f.write(f"Pillow {Image.__version__} (Debian 12 python3-pil), libjpeg API {features.version('jpg')} (Debian libjpeg62-turbo 2.1.5), "
                f"libwebp {features.version('webp')}, zlib {features.version('zlib')}, numpy {np.__version__}\n")
