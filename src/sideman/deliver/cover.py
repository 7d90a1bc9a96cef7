"""A cover image drawn from the track: the melody's contour over a gradient in the
mood's colours, with the title, key and tempo."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from sideman.music import Note

SIZE_PX = 768
# mood / genre -> (top colour, bottom colour)
_PALETTES = {
    "relaxing": ((120, 180, 200), (30, 60, 90)), "soothing": ((170, 200, 220), (50, 70, 110)),
    "sad": ((90, 100, 140), (20, 25, 50)), "happy": ((255, 200, 90), (230, 90, 80)),
    "dark": ((60, 40, 70), (10, 10, 20)), "epic": ((220, 120, 60), (40, 20, 60)),
    "romantic": ((240, 150, 170), (110, 40, 80)), "dreamy": ((190, 160, 230), (60, 70, 140)),
    "energetic": ((255, 120, 60), (150, 20, 80)), "jazz": ((200, 140, 70), (40, 30, 30)),
    "rock": ((200, 60, 50), (30, 20, 20)), "edm": ((60, 220, 230), (80, 20, 140)),
    "lofi": ((220, 170, 150), (70, 80, 110)), "cinematic": ((200, 180, 120), (30, 30, 40)),
    "folk": ((200, 170, 110), (70, 90, 60)), "ballad": ((160, 170, 210), (40, 40, 80)),
}  # fmt: skip
_DEFAULT_PALETTE = ((100, 140, 220), (40, 30, 80))


def draw_cover(path: Path, *, title: str, subtitle: str, moods: tuple[str, ...], genre: str,
               notes: tuple[Note, ...], variation: int) -> None:
    """Write a SIZE_PX square JPEG."""
    top, bottom = next((_PALETTES[m] for m in (*moods, genre) if m in _PALETTES), _DEFAULT_PALETTE)
    if variation % 2:
        top, bottom = bottom, top
    ramp = np.linspace(0.0, 1.0, SIZE_PX)[:, None, None]
    pixels = (np.array(top)[None, None, :] * (1 - ramp) + np.array(bottom)[None, None, :] * ramp)
    image = Image.fromarray(np.repeat(pixels, SIZE_PX, axis=1).astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(image)
    if notes:
        start, end = notes[0].start_seconds, notes[-1].end_seconds
        low = min(n.pitch_midi for n in notes) - 2
        high = max(n.pitch_midi for n in notes) + 2
        for n in notes:
            x0 = 48 + (n.start_seconds - start) / max(end - start, 1e-6) * (SIZE_PX - 96)
            x1 = 48 + (n.end_seconds - start) / max(end - start, 1e-6) * (SIZE_PX - 96)
            y = 560 - (n.pitch_midi - low) / max(high - low, 1) * 300
            draw.rounded_rectangle((x0, y - 5, max(x1, x0 + 3), y + 5), radius=4, fill=(255, 255, 255, 180))
    font_big, font_small = _fonts()
    draw.text((48, 48), (title or "Untitled")[:40], fill=(255, 255, 255), font=font_big)
    draw.text((48, 120), subtitle, fill=(235, 235, 235), font=font_small)
    draw.text((48, SIZE_PX - 70), "sideman", fill=(255, 255, 255), font=font_small)
    image.save(path, "JPEG", quality=88)


def _fonts():
    for name in ("DejaVuSans-Bold.ttf", "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"):
        try:
            return ImageFont.truetype(name, 52), ImageFont.truetype(name, 28)
        except OSError:
            continue
    return ImageFont.load_default(size=52), ImageFont.load_default(size=28)
