"""Drawing the card games' frames with Pillow: felt, cards with big ranks and drawn suits, text.

Everything is drawn from shapes and Pillow's built-in scalable font, so frames need no asset files
and are identical on every machine. Suits are polygons and circles because the built-in font may
lack the suit glyphs. Sizes favour a small VLM: big ranks, black or red on white, white on green.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from vlm_agent.envs.cards import RED_SUITS, Card

FRAME_SIZE = 300
MARGIN = 10
FELT = (0, 96, 48)
TEXT = (255, 255, 255)
HIGHLIGHT = (255, 214, 0)
CARD_FACE = (255, 255, 255)
CARD_EDGE = (0, 0, 0)
CARD_BACK = (30, 60, 170)
RED = (200, 0, 0)
BLACK = (0, 0, 0)
CARD_ASPECT = 1.4  # height / width of a playing card
MIN_CARD_WIDTH = 44  # below this, cards overlap instead of shrinking further


@lru_cache(maxsize=64)
def font(size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.load_default(size=size)


def new_frame() -> tuple[Image.Image, ImageDraw.ImageDraw]:
    image = Image.new("RGB", (FRAME_SIZE, FRAME_SIZE), FELT)
    return image, ImageDraw.Draw(image)


def to_array(image: Image.Image) -> np.ndarray:
    """The frame as the 300x300x3 uint8 observation."""
    return np.asarray(image, dtype=np.uint8).copy()


def draw_text(draw: ImageDraw.ImageDraw, text: str, top: int, size: int, fill=TEXT, center_x: float | None = None) -> None:
    """Text of `size` px, its ascender line at `top` (so every line sits alike whatever its glyphs), centred on `center_x` (the frame's centre by default)."""
    center_x = FRAME_SIZE / 2 if center_x is None else center_x
    draw.text((center_x, top), text, font=font(size), fill=fill, anchor="ma")


def fit_size(text: str, max_width: float, largest: int, smallest: int = 10) -> int:
    """The largest font size up to `largest` at which `text` fits in `max_width`."""
    size = largest
    while size > smallest and font(size).getlength(text) > max_width:
        size -= 2
    return size


def wrap(text: str, size: int, max_width: float) -> list[str]:
    """Break `text` at spaces into lines no wider than `max_width` (a single long word stays whole)."""
    lines: list[str] = []
    for word in text.split():
        if lines and font(size).getlength(f"{lines[-1]} {word}") <= max_width:
            lines[-1] = f"{lines[-1]} {word}"
        else:
            lines.append(word)
    return lines or [""]


def draw_wrapped(draw: ImageDraw.ImageDraw, text: str, top: int, bottom: int, sizes: Sequence[int], fill=TEXT) -> None:
    """`text` wrapped and centred between `top` and `bottom`, at the first of `sizes` that fits."""
    width = FRAME_SIZE - 2 * MARGIN
    for size in sizes:
        lines = wrap(text, size, width)
        line_height = int(size * 1.2)
        if len(lines) * line_height <= bottom - top:
            break
    for k, line in enumerate(lines):
        draw_text(draw, line, top + k * line_height, size, fill)


def draw_suit(draw: ImageDraw.ImageDraw, suit: str, cx: float, cy: float, s: float) -> None:
    """A suit symbol about 2*s wide, centred on (cx, cy), drawn from shapes."""
    fill = RED if suit in RED_SUITS else BLACK

    def disc(x: float, y: float, r: float) -> None:
        draw.ellipse((x - r, y - r, x + r, y + r), fill=fill)

    if suit == "diamonds":
        draw.polygon([(cx, cy - s), (cx + 0.75 * s, cy), (cx, cy + s), (cx - 0.75 * s, cy)], fill=fill)
    elif suit == "hearts":
        disc(cx - 0.48 * s, cy - 0.35 * s, 0.52 * s)
        disc(cx + 0.48 * s, cy - 0.35 * s, 0.52 * s)
        draw.polygon([(cx - 0.98 * s, cy - 0.2 * s), (cx + 0.98 * s, cy - 0.2 * s), (cx, cy + s)], fill=fill)
    elif suit == "spades":
        disc(cx - 0.48 * s, cy + 0.2 * s, 0.5 * s)
        disc(cx + 0.48 * s, cy + 0.2 * s, 0.5 * s)
        draw.polygon([(cx - 0.96 * s, cy + 0.08 * s), (cx + 0.96 * s, cy + 0.08 * s), (cx, cy - s)], fill=fill)
        draw.polygon([(cx, cy + 0.2 * s), (cx - 0.4 * s, cy + s), (cx + 0.4 * s, cy + s)], fill=fill)
    elif suit == "clubs":
        disc(cx, cy - 0.45 * s, 0.42 * s)
        disc(cx - 0.48 * s, cy + 0.15 * s, 0.42 * s)
        disc(cx + 0.48 * s, cy + 0.15 * s, 0.42 * s)
        draw.polygon([(cx, cy), (cx - 0.4 * s, cy + s), (cx + 0.4 * s, cy + s)], fill=fill)
    else:
        raise ValueError(f"unknown suit {suit!r}")


def draw_card(draw: ImageDraw.ImageDraw, box: tuple[float, float, float, float], card: Card, visible_width: float | None = None) -> None:
    """A face-up card in `box`: its rank big on top, its suit below.

    When the next card overlaps this one, rank and suit are centred in the `visible_width` strip
    on the left that stays in view.
    """
    x0, y0, x1, y1 = box
    width = x1 - x0 if visible_width is None else visible_width
    height = y1 - y0
    draw.rounded_rectangle(box, radius=max(4, int(height * 0.07)), fill=CARD_FACE, outline=CARD_EDGE, width=3)
    color = RED if card.suit in RED_SUITS else BLACK
    inner = width - 8
    size = fit_size(card.rank, inner, largest=int(min(height * 0.42, inner * 1.1)))
    cx = x0 + width / 2
    draw.text((cx, y0 + height * 0.07), card.rank, font=font(size), fill=color, anchor="mt")
    suit_size = min(inner * 0.4, height * 0.2)
    draw_suit(draw, card.suit, cx, y0 + height * 0.72, suit_size)


def draw_card_back(draw: ImageDraw.ImageDraw, box: tuple[float, float, float, float]) -> None:
    """A face-down card: blue with a white inner frame, so it cannot be read as a rank."""
    x0, y0, x1, y1 = box
    radius = max(4, int((y1 - y0) * 0.07))
    draw.rounded_rectangle(box, radius=radius, fill=CARD_BACK, outline=CARD_EDGE, width=3)
    draw.rounded_rectangle((x0 + 8, y0 + 8, x1 - 8, y1 - 8), radius=radius, outline=CARD_FACE, width=2)


def draw_card_row(draw: ImageDraw.ImageDraw, cards: Sequence[Card | None], top: int, max_height: int, gap: int = 8) -> None:
    """Cards side by side, centred; `None` is a face-down card.

    Cards shrink to fit the width, down to MIN_CARD_WIDTH; past that they overlap like a fan.
    """
    n = len(cards)
    if n == 0:
        return
    usable = FRAME_SIZE - 2 * MARGIN
    width = min(max_height / CARD_ASPECT, (usable - gap * (n - 1)) / n)
    width = max(width, MIN_CARD_WIDTH)
    step = min(width + gap, (usable - width) / (n - 1)) if n > 1 else 0
    height = width * CARD_ASPECT
    row_width = width + step * (n - 1)
    left = (FRAME_SIZE - row_width) / 2
    for k, card in enumerate(cards):
        x0 = left + k * step
        box = (x0, top, x0 + width, top + height)
        overlapped = k < n - 1 and step < width
        if card is None:
            draw_card_back(draw, box)
        else:
            draw_card(draw, box, card, visible_width=step if overlapped else None)
