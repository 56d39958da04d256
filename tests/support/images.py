"""Images in docs/ made by the tests, so they cannot drift from what the code renders: a test renders the image and
compares it with the committed one; UPDATE_DOCS_IMAGES=1 writes it instead (then commit the new image)."""

from __future__ import annotations

import io
import os
from pathlib import Path

# Rendering differs in antialiasing between machines (a font's hinting, a library's version), never in content:
# a pixel counts as different only beyond this distance in some channel, and a few such pixels are tolerated.
CHANNEL_TOLERANCE = 48
DIFFERENT_PIXELS_TOLERATED = 0.01


def check_committed_image(png: bytes, committed: Path) -> None:
    from PIL import Image, ImageChops

    if os.environ.get("UPDATE_DOCS_IMAGES") == "1":
        committed.parent.mkdir(parents=True, exist_ok=True)
        committed.write_bytes(png)
        return
    assert committed.is_file(), f"{committed} is missing: run the test with UPDATE_DOCS_IMAGES=1 and commit it"
    rendered = Image.open(io.BytesIO(png)).convert("RGB")
    expected = Image.open(committed).convert("RGB")
    assert rendered.size == expected.size, (f"{committed.name}: rendered {rendered.size}, committed {expected.size}; "
                                            "UPDATE_DOCS_IMAGES=1 renders it anew")
    red, green, blue = (band.point(lambda value: 255 if value > CHANNEL_TOLERANCE else 0)
                        for band in ImageChops.difference(rendered, expected).split())
    different = ImageChops.lighter(ImageChops.lighter(red, green), blue).histogram()[255]
    pixels = rendered.width * rendered.height
    assert different <= pixels * DIFFERENT_PIXELS_TOLERATED, (
        f"{committed.name} differs from what the code renders now ({different} of {pixels} pixels): "
        "UPDATE_DOCS_IMAGES=1 renders it anew")
