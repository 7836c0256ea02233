"""Line images for the export tests: rendered text, encoded in any format."""

import io

import numpy as np
from PIL import Image, ImageDraw, ImageFont

CHARS = "abcdefghijklmnopqrstuvwxyz "
WORDS = "the quick brown fox jumps over lazy dog and runs far away from home".split()


def render_line(text: str, seed: int, mode: str = "L") -> Image.Image:
    """A dark-on-light text line with some jitter, like a scanned line."""
    rng = np.random.default_rng(seed)
    font = ImageFont.load_default(size=int(rng.integers(22, 34)))
    left, top, right, bottom = font.getbbox(text)
    image = Image.new("L", (right + 24, bottom + 16), 235)
    ImageDraw.Draw(image).text((12, 8), text, fill=int(rng.integers(0, 60)), font=font)
    noise = rng.normal(0, 6, (image.height, image.width))
    image = Image.fromarray(np.clip(np.asarray(image) + noise, 0, 255).astype(np.uint8))
    return image.convert(mode)


def encode(image: Image.Image, fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()
