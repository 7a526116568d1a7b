"""The 300x300 ALFWorld frame, drawn from the view: the goal, the receptacle in front and what it shows, the hand.

AI2-THOR's rendered frames need its Unity build and a display, so the VLM sees this schematic
instead. Three fixed bands, large type, one colour per role; the same view always gives the same
pixels (Pillow's built-in font, no assets).
"""
from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from vlm_agent.envs.alfworld.view import View
from vlm_agent.envs.cards_render import font, to_array, wrap

SIZE = 300
PAD = 8
BACKGROUND = (34, 38, 46)
GOAL = (255, 214, 0)
INK = (245, 245, 245)
MUTED = (170, 178, 190)
FURNITURE = (120, 84, 52)
FURNITURE_EDGE = (205, 160, 110)
CLOSED = (92, 96, 108)
HAND = (60, 130, 200)
TASK_BOTTOM, HAND_TOP = 64, 244
MAX_CONTENT_ROWS = 5  # per column; two columns when more


def render_view(view: View) -> np.ndarray:
    image = Image.new("RGB", (SIZE, SIZE), BACKGROUND)
    draw = ImageDraw.Draw(image)
    _draw_task(draw, view.task)
    _draw_receptacle(draw, view)
    _draw_hand(draw, view.holding)
    return to_array(image)


def _lines(text: str, sizes: tuple[int, ...], width: float, max_lines: int) -> tuple[list[str], int]:
    """`text` wrapped at the largest size that takes at most `max_lines` lines (cut with ... if none)."""
    for size in sizes:
        lines = wrap(text, size, width)
        if len(lines) <= max_lines:
            return lines, size
    return lines[: max_lines - 1] + [" ".join(lines[max_lines - 1:])[:40] + "..."], sizes[-1]


def _draw_task(draw: ImageDraw.ImageDraw, task: str) -> None:
    draw.text((PAD, PAD), "GOAL", font=font(12), fill=MUTED)
    lines, size = _lines(task or "(no task)", (17, 15, 13), SIZE - 2 * PAD, 2)
    for k, line in enumerate(lines):
        draw.text((PAD, PAD + 16 + k * (size + 3)), line, font=font(size), fill=GOAL)
    draw.line((PAD, TASK_BOTTOM, SIZE - PAD, TASK_BOTTOM), fill=MUTED, width=1)


def _draw_receptacle(draw: ImageDraw.ImageDraw, view: View) -> None:
    top = TASK_BOTTOM + 8
    if not view.location:
        draw.text((SIZE / 2, top + 50), "middle of the room", font=font(22), fill=INK, anchor="ma")
        draw.text((SIZE / 2, top + 84), "nothing in front of you", font=font(15), fill=MUTED, anchor="ma")
        return
    draw.text((PAD, top), "IN FRONT OF YOU", font=font(12), fill=MUTED)
    title = view.location + ("  (open)" if view.openable and view.is_open else "  (closed)" if view.openable else "")
    draw.text((PAD, top + 15), title, font=font(20), fill=INK)
    box = (PAD, top + 42, SIZE - PAD, HAND_TOP - 8)
    closed = view.openable and not view.is_open
    draw.rounded_rectangle(box, radius=8, fill=CLOSED if closed else FURNITURE, outline=FURNITURE_EDGE, width=3)
    _draw_contents(draw, view, box, closed)


def _draw_contents(draw: ImageDraw.ImageDraw, view: View, box: tuple[int, int, int, int], closed: bool) -> None:
    left, top = box[0] + 10, box[1] + 8
    if closed:
        draw.text(((box[0] + box[2]) / 2, top + 30), "closed: open it to look", font=font(16), fill=INK, anchor="ma")
        return
    if not view.contents:
        draw.text(((box[0] + box[2]) / 2, top + 30), "empty", font=font(18), fill=INK, anchor="ma")
        return
    rows = MAX_CONTENT_ROWS
    columns = 1 if len(view.contents) <= rows else 2
    shown = list(view.contents)
    if len(shown) > rows * columns:
        shown = shown[: rows * columns - 1] + [f"+ {len(view.contents) - rows * columns + 1} more"]
    size = 17 if columns == 1 else 15
    column_width = (box[2] - box[0] - 20) / columns
    for k, name in enumerate(shown):
        x, y = left + (k // rows) * column_width, top + (k % rows) * (size + 6)
        if not name.startswith("+ "):
            draw.ellipse((x, y + 4, x + 9, y + 13), fill=GOAL)
        draw.text((x + 14, y), name, font=font(size), fill=INK)


def _draw_hand(draw: ImageDraw.ImageDraw, holding: tuple[str, ...]) -> None:
    draw.rounded_rectangle((PAD, HAND_TOP, SIZE - PAD, SIZE - PAD), radius=8, fill=HAND)
    draw.text((PAD + 8, HAND_TOP + 6), "IN YOUR HAND", font=font(12), fill=INK)
    text = ", ".join(holding) if holding else "nothing"
    lines, size = _lines(text, (20, 16), SIZE - 2 * PAD - 16, 1)
    draw.text((PAD + 8, HAND_TOP + 22), lines[0], font=font(size), fill=INK)
