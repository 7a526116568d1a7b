"""The card games' frames as the paper drew them: real card faces on a green table, at its sizes.

RL4VLM's gym-cards pasted photographs of playing cards (750x1050 PNGs) onto the frame; we draw
equivalent faces ourselves (Pillow shapes and the built-in scalable font, no asset files, identical
on every machine): a white card, the rank with a small suit as corner indices top-left and, turned
180 degrees, bottom-right, the standard pip layout for A-10, and a framed picture of a figure for
J/Q/K. Nothing is drawn big in the middle of a card except the pips and pictures a real card has.
Each face is drawn once at a 5:7 master size and resized with bicubic filtering, as the paper
resized its card images.

Numbers matched, from RL4VLM/RL4VLM gym-cards/gym_cards/envs/ (HEAD of the public repository):
- every frame is 300x300 RGB (all four `observation_space`s);
- table colour '#35654d' (`_get_obs` in blackjack.py, `_get_observation` in points.py, ezpoints.py);
- points.py (Points24) and ezpoints.py (EZPoints) `reset` / `_get_observation`: card width
  int(300 / n_cards * 0.9), height int(width * 7 / 5), card i at x = 5 + int(i * width * 1.1),
  y = int((300 - height) / 2): Points24 four 67x93 cards at x 5, 78, 152, 226, y 103; EZPoints
  two 135x189 cards at x 5, 153, y 55;
- Points24 text: "Formula:" at (10, 300 * 0.70) and the tokens joined by spaces at (10, 300 * 0.80),
  white, size 16; EZPoints text: "Formula: " + tokens at (10, 300 * 0.86), white, size 20 (the paper
  writes a blank token for a number no card offers; it shows as a space);
- blackjack.py `_get_obs`: cards 70x98, "Dealer" at (5, 5) and "Player" at (5, 130) in bold 16
  white; the dealer's first card at (5, 25) and a card back at (78, 25), on every frame (the paper
  never turns the hole card over); player cards from (5, 150) every 70 + 4 px, the sixth card
  onward one row lower (y 252) from x 5. Faithfully, the fifth card falls at x 301, outside the
  frame, and a second row shows only its top 48 px: the paper's agent never saw them either;
- numberline.py `_get_observation`: a white frame with "Target: {goal}" at (30, 60) and
  "Current: {position}" at (30, 180) in black bold 36; no drawn number line.
Where the paper used DejaVu Sans (Bold), we use Pillow's built-in font at the same pixel size,
bold drawn with a one-pixel stroke; text positions use the same top-left ("la") anchor.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Sequence

import numpy as np
from PIL import Image, ImageDraw

from vlm_agent.envs.cards import RED_SUITS, Card
from vlm_agent.envs.cards_render import BLACK, RED, draw_suit, font, to_array

FRAME_SIZE = 300
TABLE = (0x35, 0x65, 0x4D)  # '#35654d'
WHITE = (255, 255, 255)
CARD_RATIO = 7 / 5  # height / width, the paper's card images (750x1050)
BLACKJACK_CARD = (70, 98)
BLACKJACK_SPACING = 4

# The master card every face is drawn on before resizing (the paper's 750x1050 scaled by 0.4).
MASTER_W, MASTER_H = 300, 420
BACK_BLUE = (38, 48, 128)
BACK_LINE = (96, 110, 196)
SKIN = (246, 214, 178)
GOLD = (232, 184, 40)
ROBE_RED = (196, 30, 40)
ROBE_BLUE = (36, 70, 160)
HAIR = (120, 72, 30)

# Pip centres as fractions of the card (x, y), the standard layouts; pips below the middle are
# drawn upside down, as on a real card.
_L, _C, _R = 0.30, 0.50, 0.70
_TOP, _BOTTOM = 0.19, 0.81
_ROW4 = (0.19, 0.3967, 0.6033, 0.81)
PIP_LAYOUTS: dict[str, tuple[tuple[float, float], ...]] = {
    "A": ((_C, 0.5),),
    "2": ((_C, _TOP), (_C, _BOTTOM)),
    "3": ((_C, _TOP), (_C, 0.5), (_C, _BOTTOM)),
    "4": ((_L, _TOP), (_R, _TOP), (_L, _BOTTOM), (_R, _BOTTOM)),
    "5": ((_L, _TOP), (_R, _TOP), (_C, 0.5), (_L, _BOTTOM), (_R, _BOTTOM)),
    "6": tuple((x, y) for y in (_TOP, 0.5, _BOTTOM) for x in (_L, _R)),
    "7": tuple((x, y) for y in (_TOP, 0.5, _BOTTOM) for x in (_L, _R)) + ((_C, 0.345),),
    "8": tuple((x, y) for y in (_TOP, 0.5, _BOTTOM) for x in (_L, _R)) + ((_C, 0.345), (_C, 0.655)),
    "9": tuple((x, y) for y in _ROW4 for x in (_L, _R)) + ((_C, 0.5),),
    "10": tuple((x, y) for y in _ROW4 for x in (_L, _R)) + ((_C, 0.293), (_C, 0.707)),
}
PIP_SIZE = 0.075  # half-size of a pip, as a fraction of the card width
ACE_PIP_SIZE = 0.17
FACE_PANEL = (0.2, 0.09, 0.8, 0.91)  # J/Q/K picture frame, as fractions of the card


def suit_colour(suit: str) -> tuple[int, int, int]:
    return RED if suit in RED_SUITS else BLACK


# --- card faces ---------------------------------------------------------------------------------


def _suit_tile(suit: str, half_size: float) -> Image.Image:
    """One suit symbol on a transparent tile just big enough for it."""
    side = int(2.2 * half_size) + 2
    tile = Image.new("RGBA", (side, side), (0, 0, 0, 0))
    draw_suit(ImageDraw.Draw(tile), suit, side / 2, side / 2, half_size)
    return tile


def _paste_centred(card: Image.Image, tile: Image.Image, cx: float, cy: float, upside_down: bool = False) -> None:
    if upside_down:
        tile = tile.transpose(Image.Transpose.ROTATE_180)
    card.alpha_composite(tile, (round(cx - tile.width / 2), round(cy - tile.height / 2)))


def _rank_tile(rank: str, colour: tuple[int, int, int], max_width: int, height: int) -> Image.Image:
    """The rank in bold, `height` px tall from its top to its baseline, squeezed into `max_width` ("10")."""
    big = 160
    mask = Image.new("L", (big * len(rank), big * 2), 0)
    ImageDraw.Draw(mask).text((8, 8), rank, font=font(big), fill=255, stroke_width=big // 14, stroke_fill=255)
    mask = mask.crop(mask.getbbox())
    width = min(max_width, round(mask.width * height / mask.height))
    mask = mask.resize((width, height), Image.Resampling.LANCZOS)
    tile = Image.new("RGBA", mask.size, colour + (0,))
    tile.putalpha(mask)
    return tile


def _corner_index(card: Card) -> Image.Image:
    """Top-left index: the rank and a small suit under it, on a transparent tile the card's size."""
    layer = Image.new("RGBA", (MASTER_W, MASTER_H), (0, 0, 0, 0))
    rank = _rank_tile(card.rank, suit_colour(card.suit), max_width=int(0.14 * MASTER_W), height=int(0.095 * MASTER_H))
    cx = 0.095 * MASTER_W
    layer.alpha_composite(rank, (round(cx - rank.width / 2), int(0.03 * MASTER_H)))
    _paste_centred(layer, _suit_tile(card.suit, 0.045 * MASTER_W), cx, 0.17 * MASTER_H)
    return layer


def _draw_pips(card_image: Image.Image, card: Card) -> None:
    half = (ACE_PIP_SIZE if card.rank == "A" else PIP_SIZE) * MASTER_W
    tile = _suit_tile(card.suit, half)
    for fx, fy in PIP_LAYOUTS[card.rank]:
        _paste_centred(card_image, tile, fx * MASTER_W, fy * MASTER_H, upside_down=fy > 0.5)


def _half_figure(rank: str, suit: str, box: tuple[float, float, float, float]) -> Image.Image:
    """The upper half of a court card's picture: a figure from the chest up, its headgear telling J, Q, K."""
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    tile = Image.new("RGBA", (round(w), round(h)), (0, 0, 0, 0))
    d = ImageDraw.Draw(tile)
    cx = w / 2
    robe = ROBE_RED if suit in RED_SUITS else ROBE_BLUE
    trim = ROBE_BLUE if suit in RED_SUITS else ROBE_RED
    # Shoulders and robe down to the panel's middle, a gold collar, a stripe of the other colour.
    d.polygon([(cx - 0.42 * w, h), (cx - 0.36 * w, 0.62 * h), (cx + 0.36 * w, 0.62 * h), (cx + 0.42 * w, h)], fill=robe, outline=BLACK)
    d.rectangle((cx - 0.07 * w, 0.62 * h, cx + 0.07 * w, h), fill=trim, outline=BLACK)
    d.polygon([(cx - 0.3 * w, 0.62 * h), (cx + 0.3 * w, 0.62 * h), (cx, 0.78 * h)], fill=GOLD, outline=BLACK)
    if rank == "Q":  # long hair falling to the shoulders
        d.rounded_rectangle((cx - 0.2 * w, 0.26 * h, cx + 0.2 * w, 0.66 * h), radius=0.08 * w, fill=GOLD, outline=BLACK)
    head = (cx - 0.14 * w, 0.27 * h, cx + 0.14 * w, 0.6 * h)
    d.ellipse(head, fill=SKIN, outline=BLACK, width=2)
    for ex in (cx - 0.06 * w, cx + 0.06 * w):
        d.ellipse((ex - 0.018 * w, 0.4 * h, ex + 0.018 * w, 0.43 * h), fill=BLACK)
    d.line((cx - 0.05 * w, 0.5 * h, cx + 0.05 * w, 0.5 * h), fill=BLACK, width=2)
    if rank == "K":  # pointed crown and a beard
        d.polygon([(cx - 0.16 * w, 0.29 * h), (cx - 0.16 * w, 0.1 * h), (cx - 0.08 * w, 0.2 * h), (cx, 0.06 * h),
                   (cx + 0.08 * w, 0.2 * h), (cx + 0.16 * w, 0.1 * h), (cx + 0.16 * w, 0.29 * h)], fill=GOLD, outline=BLACK)
        d.polygon([(cx - 0.13 * w, 0.5 * h), (cx + 0.13 * w, 0.5 * h), (cx, 0.66 * h)], fill=HAIR, outline=BLACK)
    elif rank == "Q":  # a crown of round beads
        d.rectangle((cx - 0.15 * w, 0.2 * h, cx + 0.15 * w, 0.29 * h), fill=GOLD, outline=BLACK)
        for bx in (cx - 0.11 * w, cx, cx + 0.11 * w):
            d.ellipse((bx - 0.04 * w, 0.12 * h, bx + 0.04 * w, 0.2 * h), fill=GOLD, outline=BLACK)
    else:  # J: a flat cap with a feather
        d.rectangle((cx - 0.17 * w, 0.19 * h, cx + 0.17 * w, 0.29 * h), fill=trim, outline=BLACK)
        d.polygon([(cx + 0.1 * w, 0.19 * h), (cx + 0.3 * w, 0.04 * h), (cx + 0.2 * w, 0.2 * h)], fill=GOLD, outline=BLACK)
    # The suit beside the head, as on real court cards.
    _paste_centred(tile, _suit_tile(suit, 0.09 * w), 0.16 * w, 0.2 * h)
    return tile


def _draw_picture(card_image: Image.Image, card: Card) -> None:
    """J/Q/K: a framed picture, its lower half the upper half turned round, as on a real court card."""
    x0, y0, x1, y1 = (FACE_PANEL[0] * MASTER_W, FACE_PANEL[1] * MASTER_H, FACE_PANEL[2] * MASTER_W, FACE_PANEL[3] * MASTER_H)
    mid = (y0 + y1) / 2
    half = _half_figure(card.rank, card.suit, (x0, y0, x1, mid))
    card_image.alpha_composite(half, (round(x0), round(y0)))
    card_image.alpha_composite(half.transpose(Image.Transpose.ROTATE_180), (round(x0), round(mid)))
    d = ImageDraw.Draw(card_image)
    d.line((x0, mid, x1, mid), fill=suit_colour(card.suit), width=2)
    d.rectangle((x0, y0, x1, y1), outline=suit_colour(card.suit), width=3)


@lru_cache(maxsize=64)
def _master_face(card: Card) -> Image.Image:
    face = Image.new("RGBA", (MASTER_W, MASTER_H), WHITE + (255,))
    if card.rank in PIP_LAYOUTS:
        _draw_pips(face, card)
    else:
        _draw_picture(face, card)
    index = _corner_index(card)
    face.alpha_composite(index)
    face.alpha_composite(index.transpose(Image.Transpose.ROTATE_180))
    return face.convert("RGB")


@lru_cache(maxsize=1)
def _master_back() -> Image.Image:
    """A card back: white border, a blue field crossed by a lighter lattice, a white inner frame."""
    back = Image.new("RGB", (MASTER_W, MASTER_H), WHITE)
    d = ImageDraw.Draw(back)
    m = int(0.07 * MASTER_W)
    d.rectangle((m, m, MASTER_W - m, MASTER_H - m), fill=BACK_BLUE)
    for k in range(-MASTER_H, MASTER_W + MASTER_H, 24):
        d.line((k, m, k + MASTER_H, m + MASTER_H), fill=BACK_LINE, width=3)
        d.line((k, m, k - MASTER_H, m + MASTER_H), fill=BACK_LINE, width=3)
    d.rectangle((0, 0, MASTER_W, m), fill=WHITE)  # the lattice stays inside the field
    d.rectangle((0, MASTER_H - m, MASTER_W, MASTER_H), fill=WHITE)
    d.rectangle((0, 0, m, MASTER_H), fill=WHITE)
    d.rectangle((MASTER_W - m, 0, MASTER_W, MASTER_H), fill=WHITE)
    d.rectangle((2 * m, 2 * m, MASTER_W - 2 * m, MASTER_H - 2 * m), outline=WHITE, width=3)
    return back


@lru_cache(maxsize=256)
def card_image(card: Card | None, width: int, height: int) -> Image.Image:
    """A card face (or, for None, its back) `width` x `height` px, resized from the master as the paper resized its PNGs."""
    master = _master_back() if card is None else _master_face(card)
    return master.resize((width, height), Image.Resampling.BICUBIC)


def paste_card(frame: Image.Image, card: Card | None, left: int, top: int, size: tuple[int, int]) -> None:
    """A card with slightly rounded corners (the paper's images' corners are a pixel or two at these sizes)."""
    width, height = size
    mask = Image.new("L", size, 0)
    ImageDraw.Draw(mask).rounded_rectangle((0, 0, width - 1, height - 1), radius=max(1, round(0.03 * width)), fill=255)
    frame.paste(card_image(card, width, height), (left, top), mask)


# --- frames -------------------------------------------------------------------------------------


def new_table() -> tuple[Image.Image, ImageDraw.ImageDraw]:
    image = Image.new("RGB", (FRAME_SIZE, FRAME_SIZE), TABLE)
    return image, ImageDraw.Draw(image)


def points_card_boxes(n_cards: int) -> list[tuple[int, int, int, int]]:
    """(left, top, width, height) of each card, the paper's Points24 / EZPoints placement."""
    width = int(FRAME_SIZE / n_cards * 0.9)
    height = int(width * 7 / 5)
    top = int((FRAME_SIZE - height) / 2)
    return [(5 + int(i * width * 1.1), top, width, height) for i in range(n_cards)]


def _table_with_cards(cards: Sequence[Card]) -> tuple[Image.Image, ImageDraw.ImageDraw]:
    image, draw = new_table()
    for card, (left, top, width, height) in zip(cards, points_card_boxes(len(cards)), strict=True):
        paste_card(image, card, left, top, (width, height))
    return image, draw


def formula_text(tokens: Sequence[str]) -> str:
    """The tokens as the paper prints them: joined by spaces."""
    return " ".join(tokens)


def points24_frame(cards: Sequence[Card], tokens: Sequence[str]) -> np.ndarray:
    image, draw = _table_with_cards(cards)
    draw.text((10, FRAME_SIZE * 0.70), "Formula:", fill=WHITE, font=font(16))
    draw.text((10, FRAME_SIZE * 0.80), formula_text(tokens), fill=WHITE, font=font(16))
    return to_array(image)


def ezpoints_frame(cards: Sequence[Card], tokens: Sequence[str]) -> np.ndarray:
    image, draw = _table_with_cards(cards)
    draw.text((10, FRAME_SIZE * 0.86), "Formula: " + formula_text(tokens), fill=WHITE, font=font(20))
    return to_array(image)


def blackjack_card_boxes(n_player: int) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """Top-left corners of the dealer's two cards and of the player's cards, the paper's placement."""
    dealer = [(5, 25), (78, 25)]
    player, x, y = [], 5, 150
    for idx in range(n_player):
        player.append((x, y))
        x += BLACKJACK_CARD[0] + BLACKJACK_SPACING
        if idx == 4:  # the paper's single wrap, after the fifth card
            y += BLACKJACK_CARD[1] + BLACKJACK_SPACING
            x = 5
    return dealer, player


def _bold_text(draw: ImageDraw.ImageDraw, xy: tuple[float, float], text: str, size: int, fill) -> None:
    draw.text(xy, text, fill=fill, font=font(size), stroke_width=1, stroke_fill=fill)


def blackjack_frame(dealer_up: Card, player_cards: Sequence[Card]) -> np.ndarray:
    """The dealer's face-up card and a card back, the player's cards below; the hole card stays down."""
    image, draw = new_table()
    dealer_boxes, player_boxes = blackjack_card_boxes(len(player_cards))
    _bold_text(draw, (5, 5), "Dealer", 16, WHITE)
    paste_card(image, dealer_up, *dealer_boxes[0], BLACKJACK_CARD)
    paste_card(image, None, *dealer_boxes[1], BLACKJACK_CARD)
    _bold_text(draw, (5, 130), "Player", 16, WHITE)
    for card, (left, top) in zip(player_cards, player_boxes, strict=True):
        paste_card(image, card, left, top, BLACKJACK_CARD)
    return to_array(image)


def numberline_frame(target: int, current: int) -> np.ndarray:
    """The paper's NumberLine frame: two lines of black text on white, nothing else."""
    image = Image.new("RGB", (FRAME_SIZE, FRAME_SIZE), WHITE)
    draw = ImageDraw.Draw(image)
    _bold_text(draw, (30, 60), f"Target: {target}", 36, BLACK)
    _bold_text(draw, (30, 180), f"Current: {current}", 36, BLACK)
    return to_array(image)
