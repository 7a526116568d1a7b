"""The card games' frames: shape, determinism, that they show the state, and legible cards."""
import gymnasium as gym
import numpy as np
import pytest

import vlm_agent.envs  # noqa: F401  (registers the environments)
from vlm_agent.envs.cards import SUITS, Card
from vlm_agent.envs.cards_render import CARD_BACK, FELT, RED, draw_card_row, new_frame, to_array

GAMES = {
    "vlm_agent/NumberLine-v0": ["+", "-", "+"],
    "vlm_agent/EZPoints-v0": ["3", "*", "4"],
    "vlm_agent/Points24-v0": ["(", "10", "-", "4", ")", "*"],
    "vlm_agent/Blackjack-v0": ["hit", "hit"],
}


def rollout(env_id, seed, actions=None, **env_kwargs):
    """Frames and infos of a fixed action sequence (stopping when the episode ends)."""
    env = gym.make(env_id, **env_kwargs)
    frame, info = env.reset(seed=seed)
    frames, infos = [frame], [info]
    for action in GAMES[env_id] if actions is None else actions:
        frame, _, terminated, truncated, info = env.step(action)
        frames.append(frame)
        infos.append(info)
        if terminated or truncated:
            break
    return frames, infos


@pytest.mark.parametrize("env_id", GAMES)
def test_frames_are_300x300_rgb_uint8_in_the_observation_space(env_id):
    env = gym.make(env_id)
    frames, _ = rollout(env_id, 0)
    for frame in frames:
        assert frame.shape == (300, 300, 3) and frame.dtype == np.uint8
        assert env.observation_space.contains(frame)


@pytest.mark.parametrize("env_id", GAMES)
def test_same_seed_gives_the_same_frames_and_states(env_id):
    frames_a, infos_a = rollout(env_id, 11)
    frames_b, infos_b = rollout(env_id, 11)
    assert all(np.array_equal(a, b) for a, b in zip(frames_a, frames_b, strict=True))
    assert [i["state"] for i in infos_a] == [i["state"] for i in infos_b]
    assert [i["text"] for i in infos_a] == [i["text"] for i in infos_b]


@pytest.mark.parametrize("env_id", GAMES)
def test_different_seeds_deal_different_games(env_id):
    firsts = [rollout(env_id, seed) for seed in range(6)]
    assert len({info[0]["text"] for _, info in firsts}) > 1
    assert len({frames[0].tobytes() for frames, _ in firsts}) > 1


@pytest.mark.parametrize("env_id", GAMES)
def test_the_frame_changes_with_the_state_and_not_on_an_invalid_action(env_id):
    env = gym.make(env_id)
    frame, info = env.reset(seed=4)
    same, *_ = env.step("not an action")
    assert np.array_equal(frame, same)
    action = GAMES[env_id][0]
    if "current" in info["state"] and info["state"]["current"] == info["state"]["max_position"]:
        action = "-"  # "+" at the end of the number line changes nothing
    moved, *_ = env.step(action)
    assert not np.array_equal(frame, moved)
    assert np.array_equal(moved, env.unwrapped.render())


def test_numberline_frames_depend_only_on_target_and_current():
    by_state = {}
    for seed in range(40):
        frame, info = gym.make("vlm_agent/NumberLine-v0").reset(seed=seed)
        key = (info["state"]["target"], info["state"]["current"])
        by_state.setdefault(key, frame)
        assert np.array_equal(by_state[key], frame)
    assert len({f.tobytes() for f in by_state.values()}) == len(by_state)


def test_blackjack_hides_the_dealers_second_card_until_the_game_ends():
    env = gym.make("vlm_agent/Blackjack-v0")
    frame, _ = env.reset(seed=0)
    assert (frame == CARD_BACK).all(axis=-1).sum() > 500
    frame, _, terminated, _, _ = env.step("stand")
    assert terminated and (frame == CARD_BACK).all(axis=-1).sum() == 0


def card_frame(cards):
    image, draw = new_frame()
    draw_card_row(draw, cards, top=12, max_height=126)
    return to_array(image)


def test_red_suits_are_red_and_black_suits_are_not():
    for suit in SUITS:
        reds = (card_frame([Card("7", suit)]) == RED).all(axis=-1).sum()
        assert (reds > 200) == (suit in ("hearts", "diamonds")), suit


def test_every_rank_and_suit_draws_a_different_card():
    frames = {card_frame([Card(rank, suit)]).tobytes() for rank in ("A", "10", "J", "Q", "K") for suit in SUITS}
    assert len(frames) == 20


def test_ranks_are_drawn_large():
    frame = card_frame([Card("8", "spades"), Card("K", "clubs")])
    top_half = (frame[12:70] == 0).all(axis=-1)  # black ink in the rank area of both cards
    rows = np.flatnonzero(top_half[:, 20:280].any(axis=1))
    assert rows.max() - rows.min() >= 25  # glyphs at least 25 px tall in a 300 px frame


def test_a_long_row_of_cards_fans_out_inside_the_frame():
    frame = card_frame([Card(rank, "hearts") for rank in ("A", "2", "3", "4", "5", "6", "7", "8", "9", "10", "J")])
    assert (frame[:, :8] == FELT).all() and (frame[:, -8:] == FELT).all()
    assert (frame == RED).all(axis=-1).sum() > 11 * 50  # every card's rank or suit shows
