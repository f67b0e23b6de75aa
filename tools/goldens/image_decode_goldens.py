"""Goldens of the image-input decoders (src/imaging/image_decode_test.cc): small JPEG and WebP
files and the RGB bytes PIL's Image.convert("RGB") gives for them (what diffusers decodes with).

Run by hand:  . /work/shared/reference/env.sh && /usr/bin/python3 tools/goldens/image_decode_goldens.py
"""
import io
import os

import numpy as np
from PIL import Image

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "src", "imaging", "testdata")


def pattern(w, h, alpha=False):
    y, x = np.mgrid[0:h, 0:w]
    r = (x * 255 // (w - 1)).astype(np.uint8)
    g = (y * 255 // (h - 1)).astype(np.uint8)
    b = (((x // 4 + y // 4) % 2) * 200 + 30).astype(np.uint8)
    planes = [r, g, b]
    if alpha:
        planes.append(((x + y) * 255 // (w + h - 2)).astype(np.uint8))
    return np.stack(planes, axis=-1)


def save(name, image, fmt, **kw):
    buf = io.BytesIO()
    image.save(buf, fmt, **kw)
    data = buf.getvalue()
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)
    decoded = Image.open(io.BytesIO(data)).convert("RGB")
    with open(os.path.join(OUT, name + ".rgb"), "wb") as f:
        f.write(np.asarray(decoded, dtype=np.uint8).tobytes())
    print(name, decoded.size, len(data), "bytes")


os.makedirs(OUT, exist_ok=True)
save("colour.jpg", Image.fromarray(pattern(24, 16)), "JPEG", quality=85)
save("progressive.jpg", Image.fromarray(pattern(24, 16)), "JPEG", quality=70, progressive=True)
save("grey.jpg", Image.fromarray(pattern(16, 16)[:, :, 0], "L"), "JPEG", quality=90)
save("lossy.webp", Image.fromarray(pattern(24, 16)), "WEBP", quality=80)
save("alpha.webp", Image.fromarray(pattern(24, 16, alpha=True), "RGBA"), "WEBP", lossless=True)
save("alpha.png", Image.fromarray(pattern(24, 16, alpha=True), "RGBA"), "PNG")
