"""The paper-faithful frames (render="paper"): RL4VLM's layout, sizes and table, real card faces.

The numbers pinned here are the paper's (gym-cards/gym_cards/envs/*.py in RL4VLM/RL4VLM), written
out literally rather than read from envs/cards_paper.py, so a drift in the module fails here.
"""
import gymnasium as gym
import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from test_card_frames import rollout as card_rollout
import vlm_agent.envs  # noqa: F401  (registers the environments)
from vlm_agent.agent.experts import ExpertAgent
from vlm_agent.envs.cards import RANKS, SUITS, Card
from vlm_agent.envs.cards_paper import card_image, numberline_frame, points24_frame
from vlm_agent.runtime.log_schema import record_to_row, rows_to_table, table_rows
from vlm_agent.runtime.loop import LoopConfig, RolloutLoop
from vlm_agent.runtime.records import RecordBus

TABLE = (0x35, 0x65, 0x4D)  # the paper's '#35654d'
ENVS = ("vlm_agent/NumberLine-v0", "vlm_agent/EZPoints-v0", "vlm_agent/Points24-v0", "vlm_agent/Blackjack-v0")
PIP_RANKS = ("A", "2", "3", "4", "5", "6", "7", "8", "9", "10")
PIP_COUNTS = {rank: 1 if rank == "A" else int(rank) for rank in PIP_RANKS}
SIZES = ((67, 93), (70, 98), (135, 189))  # the paper's Points24, Blackjack and EZPoints cards


def blobs(mask: np.ndarray) -> list[tuple[int, int, int, int, int]]:
    """(x0, y0, x1, y1, area) of each 8-connected component of `mask`, corners inclusive."""
    mask = mask.copy()
    height, width = mask.shape
    found = []
    for y0, x0 in zip(*np.nonzero(mask)):
        if not mask[y0, x0]:
            continue
        mask[y0, x0] = False
        stack, xs, ys = [(y0, x0)], [], []
        while stack:
            y, x = stack.pop()
            xs.append(x)
            ys.append(y)
            for yy in (y - 1, y, y + 1):
                for xx in (x - 1, x, x + 1):
                    if 0 <= yy < height and 0 <= xx < width and mask[yy, xx]:
                        mask[yy, xx] = False
                        stack.append((yy, xx))
        found.append((min(xs), min(ys), max(xs), max(ys), len(xs)))
    return found


def card_boxes(frame: np.ndarray) -> list[tuple[int, int, int, int]]:
    """(left, top, width, height) of each card: the big regions that are not table, less any text touching them.

    A card's rows and columns are those nearly full; a text label touching a card (the
    paper's "Player" label reaches down to the first card's top) adds only sparse rows.
    """
    not_table = (frame != TABLE).any(axis=-1)
    boxes = []
    for x0, y0, x1, y1, area in blobs(not_table):
        if area > 1000:
            region = not_table[y0:y1 + 1, x0:x1 + 1]
            rows = np.flatnonzero(region.sum(axis=1) >= 0.9 * region.sum(axis=1).max())
            region = region[rows.min():rows.max() + 1]
            cols = np.flatnonzero(region.sum(axis=0) >= 0.9 * region.sum(axis=0).max())
            boxes.append((x0 + cols.min(), y0 + rows.min(), cols.max() - cols.min() + 1, rows.max() - rows.min() + 1))
    return sorted(boxes)


def ink(image) -> np.ndarray:
    """Pixels clearly darker than the white card: pips, indices, pictures."""
    return np.asarray(image).astype(int).min(axis=-1) < 160


def red(image) -> np.ndarray:
    a = np.asarray(image).astype(int)
    return (a[..., 0] > 150) & (a[..., 1] < 90) & (a[..., 2] < 90)


def black(image) -> np.ndarray:
    return np.asarray(image).astype(int).max(axis=-1) < 70


def paper_env(env_id, **kwargs):
    return gym.make(env_id, render="paper", **kwargs)


# --- layout ------------------------------------------------------------------------------------


def test_points24_frame_has_four_67x93_cards_where_the_paper_put_them_on_its_green_table():
    frame, _ = paper_env("vlm_agent/Points24-v0").reset(seed=0)
    assert frame.shape == (300, 300, 3) and frame.dtype == np.uint8
    assert card_boxes(frame) == [(5, 103, 67, 93), (78, 103, 67, 93), (152, 103, 67, 93), (226, 103, 67, 93)]
    assert (frame[:100] == TABLE).all() and (frame[:, :5] == TABLE).all()


def test_ezpoints_frame_has_two_135x189_cards_where_the_paper_put_them():
    frame, _ = paper_env("vlm_agent/EZPoints-v0").reset(seed=0)
    assert card_boxes(frame) == [(5, 55, 135, 189), (153, 55, 135, 189)]
    assert (frame[:55] == TABLE).all()


def test_the_formula_is_written_where_the_paper_wrote_it():
    env = paper_env("vlm_agent/Points24-v0")
    empty, _ = env.reset(seed=0)
    written, *_ = env.step("(")
    changed_rows = np.flatnonzero((empty != written).any(axis=(1, 2)))
    assert changed_rows.min() >= 240 and changed_rows.max() < 270  # the second text line, at 300 * 0.80
    label_rows = np.flatnonzero((empty[196:] != TABLE).any(axis=(1, 2))) + 196
    assert 210 <= label_rows.min() < 240  # "Formula:" at 300 * 0.70


def test_blackjack_frame_has_the_papers_70x98_cards_and_keeps_the_hole_card_down():
    env = paper_env("vlm_agent/Blackjack-v0")
    frame, _ = env.reset(seed=0)
    assert card_boxes(frame) == [(5, 25, 70, 98), (5, 150, 70, 98), (78, 25, 70, 98), (79, 150, 70, 98)]
    back = frame[25:123, 78:148]
    blue = back[..., 2].astype(int) - back[..., :2].max(axis=-1) > 50
    assert blue.mean() > 0.5  # a card back, not a face
    frame, _, terminated, _, _ = env.step("stand")
    assert terminated and (frame[25:123, 78:148] == back).all()  # as in the paper, never turned over
    assert (frame[5:21, 5:60] != TABLE).any() and (frame[130:146, 5:60] != TABLE).any()  # "Dealer", "Player"


def test_numberline_paper_frame_is_target_and_current_text_on_white_and_nothing_else():
    frame = numberline_frame(3, 1)
    expected = Image.new("RGB", (300, 300), "white")
    draw = ImageDraw.Draw(expected)
    font = ImageFont.load_default(size=36)
    for xy, word in (((30, 60), "Target:"), ((30, 180), "Current:")):
        draw.text(xy, word, fill="black", font=font, stroke_width=1, stroke_fill="black")
        x0, y0, x1, y1 = (int(v) for v in draw.textbbox(xy, word, font=font, stroke_width=1))
        assert np.array_equal(frame[y0:y1, x0:x1], np.asarray(expected)[y0:y1, x0:x1]), word
    inked_rows = np.flatnonzero((frame != 255).any(axis=(1, 2)))
    # Two text lines at the paper's y 60 and 180 (36 px font) and no drawn number line anywhere.
    assert set(inked_rows) <= set(range(60, 110)) | set(range(180, 230))
    assert inked_rows.min() < 110 and inked_rows.max() >= 180
    assert not np.array_equal(frame, numberline_frame(4, 1)) and not np.array_equal(frame, numberline_frame(3, 2))


# --- card faces --------------------------------------------------------------------------------


@pytest.mark.parametrize("size", SIZES)
def test_each_pip_card_shows_its_rank_as_that_many_pips_in_the_middle(size):
    width, height = size
    left, right = round(0.19 * width), round(0.81 * width)  # between the corner indices
    for rank in PIP_RANKS:
        for suit in SUITS:
            middle = blobs(ink(card_image(Card(rank, suit), width, height))[:, left:right])
            assert len(middle) == PIP_COUNTS[rank], (rank, suit)
            if rank != "A":  # pips, not a big glyph: each well under a fifth of the card high
                assert max(y1 - y0 + 1 for _, y0, _, y1, _ in middle) < 0.2 * height, (rank, suit)


@pytest.mark.parametrize("size", SIZES)
def test_rank_and_suit_are_small_corner_indices_top_left_and_turned_round_bottom_right(size):
    width, height = size
    cw, ch = round(0.18 * width), round(0.28 * height)  # the index column, left of any pip or picture
    corners = {}
    for rank in RANKS:
        for suit in SUITS:
            face = ink(card_image(Card(rank, suit), width, height))
            top_left, bottom_right = face[:ch, :cw], face[height - ch:, width - cw:]
            assert top_left.sum() > 8, (rank, suit)
            turned = bottom_right[::-1, ::-1]
            overlap = (top_left & turned).sum() / (top_left | turned).sum()
            assert overlap > 0.85, (rank, suit, overlap)
            # A small index, rank over suit as separate marks, within the card's top quarter.
            assert np.flatnonzero(top_left.any(axis=1)).max() < 0.24 * height, (rank, suit)
            assert len(blobs(top_left)) >= 2, (rank, suit)
            corners[(rank, suit)] = top_left.tobytes()
    assert len(set(corners.values())) == len(RANKS) * len(SUITS)  # every rank and suit reads differently


def test_jack_queen_king_show_a_framed_picture_not_a_letter():
    width, height = 135, 189
    pictures = set()
    for rank in ("J", "Q", "K"):
        for suit in SUITS:
            face = np.asarray(card_image(Card(rank, suit), width, height)).astype(int)
            panel = face[round(0.12 * height):round(0.88 * height), round(0.2 * width):round(0.8 * width)]
            gold = (panel[..., 0] > 180) & (panel[..., 1] > 130) & (panel[..., 2] < 90)
            skin = (panel[..., 0] > 220) & (panel[..., 1] > 190) & (panel[..., 2] > 150) & (panel[..., 2] < 200)
            colours_of_a_picture = gold.sum() > 200 and skin.sum() > 100
            assert colours_of_a_picture, (rank, suit)
            frame_line = ink(face)[round(0.09 * height) - 1:round(0.09 * height) + 2, round(0.25 * width):round(0.75 * width)]
            assert frame_line.any(axis=0).all(), (rank, suit)  # the picture's frame runs across the top
            pictures.add(panel.tobytes())
    assert len(pictures) == 12


@pytest.mark.parametrize("suit", SUITS)
def test_hearts_and_diamonds_are_red_clubs_and_spades_black(suit):
    is_red = suit in ("hearts", "diamonds")
    for rank in ("A", "7", "10"):
        face = card_image(Card(rank, suit), 67, 93)
        assert (red(face).sum() > 40) == is_red, (rank, suit)
        assert (black(face).sum() > 40) != is_red, (rank, suit)


# --- the environments ----------------------------------------------------------------------------


STEPS = {
    "vlm_agent/NumberLine-v0": ["+", "-"],
    "vlm_agent/EZPoints-v0": ["3", "*"],
    "vlm_agent/Points24-v0": ["(", "7", "-"],
    "vlm_agent/Blackjack-v0": ["hit"],
}


def rollout(env_id, seed, **kwargs):
    return card_rollout(env_id, seed, STEPS[env_id], **kwargs)


@pytest.mark.parametrize("env_id", ENVS)
def test_every_card_env_resets_and_steps_with_paper_frames_and_says_so(env_id):
    env = paper_env(env_id)
    frames, infos = rollout(env_id, 5, render="paper")
    clear_frames, clear_infos = rollout(env_id, 5)
    assert all(info["render"] == "paper" for info in infos)
    assert all(info["render"] == "clear" for info in clear_infos)
    assert [i["state"] for i in infos] == [i["state"] for i in clear_infos]  # the frames change, the game does not
    for frame, clear in zip(frames, clear_frames, strict=True):
        assert env.observation_space.contains(frame) and not np.array_equal(frame, clear)


@pytest.mark.parametrize("env_id", ENVS)
def test_same_seed_gives_the_same_paper_frames(env_id):
    frames_a, _ = rollout(env_id, 11, render="paper")
    card_image.cache_clear()  # drawn afresh, not served from the cache
    frames_b, _ = rollout(env_id, 11, render="paper")
    assert all(np.array_equal(a, b) for a, b in zip(frames_a, frames_b, strict=True))


def test_a_formula_blank_shows_as_the_papers_space():
    cards = [Card("3", "hearts"), Card("4", "clubs"), Card("5", "spades"), Card("6", "diamonds")]
    env = paper_env("vlm_agent/Points24-v0").unwrapped
    env.reset(seed=0)
    env.cards = cards
    env.step("9")  # no card offers 9: the formula gets a blank
    assert np.array_equal(env.render(), points24_frame(cards, [" "]))


@pytest.mark.parametrize("env_id", ENVS)
def test_an_unknown_render_is_a_one_line_value_error(env_id):
    with pytest.raises(ValueError, match=r"^render must be one of clear, paper, not 'photo'$"):
        gym.make(env_id, render="photo")


@pytest.mark.parametrize("env_id", ENVS)
def test_the_rendering_reaches_the_episode_log(env_id):
    bus = RecordBus()
    records = []
    bus.subscribe(records.append)
    config = LoopConfig(env_id=env_id, episodes=1, seed=3, env_kwargs={"render": "paper"})
    loop = RolloutLoop(config, ExpertAgent(seed=0), bus, run_id="test")
    loop.run()
    loop.close()
    rows = table_rows(rows_to_table([record_to_row(r) for r in records]))
    assert records and all(row.info["render"] == "paper" for row in rows)
    if env_id != "vlm_agent/NumberLine-v0":
        assert all(tuple(r.frame[0, 0]) == TABLE for r in records)
