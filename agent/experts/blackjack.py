"""Blackjack expert: the optimal hit/stand policy of gymnasium's rules, computed by dynamic programming.

The rules (gymnasium's Blackjack, natural=False, sab=False): infinite deck, each draw is A..10
with 10 four times as likely (10, J, Q, K); the dealer reveals one card, draws to 17 and stands on
soft 17; a bust loses, otherwise the higher total wins and equal totals draw. A hand is
(total, soft): its best total, and whether an ace in it counts 11.
"""
from __future__ import annotations

import random
from functools import lru_cache

from vlm_agent.agent.interface import Observation

CARD_PROBS = {value: (4 if value == 10 else 1) / 13 for value in range(1, 11)}
DEALER_STANDS_AT = 17
Outcome = tuple[float, float, float]  # probabilities of win, draw, loss


def add_card(total: int, soft: bool, card: int) -> tuple[int, bool]:
    """The hand after drawing `card`: an ace counts 11 while that keeps the total at most 21."""
    if soft:
        total += card
        return (total - 10, False) if total > 21 else (total, True)
    if card == 1 and total + 11 <= 21:
        return total + 11, True
    return total + card, False


def first_card(card: int) -> tuple[int, bool]:
    return (11, True) if card == 1 else (card, False)


@lru_cache(maxsize=None)
def dealer_finals(total: int, soft: bool) -> dict[int, float]:
    """Probability of each final dealer total from this hand (22 stands for any bust)."""
    if total > 21:
        return {22: 1.0}
    if total >= DEALER_STANDS_AT:
        return {total: 1.0}
    finals: dict[int, float] = {}
    for card, p in CARD_PROBS.items():
        for final, q in dealer_finals(*add_card(total, soft, card)).items():
            finals[final] = finals.get(final, 0.0) + p * q
    return finals


@lru_cache(maxsize=None)
def stand_outcome(total: int, dealer_value: int) -> Outcome:
    """(win, draw, loss) probabilities of standing on `total` against the dealer's face-up card."""
    win = draw = loss = 0.0
    for final, p in dealer_finals(*first_card(dealer_value)).items():
        if final > 21 or final < total:
            win += p
        elif final == total:
            draw += p
        else:
            loss += p
    return win, draw, loss


def hit_outcome(total: int, soft: bool, dealer_value: int, play) -> Outcome:
    """(win, draw, loss) probabilities of hitting once, then playing on as `play` (best_play or most_wins_play) says."""
    hit = [0.0, 0.0, 0.0]
    for card, p in CARD_PROBS.items():
        next_total, next_soft = add_card(total, soft, card)
        outcome = (0.0, 0.0, 1.0) if next_total > 21 else play(next_total, next_soft, dealer_value)[1]
        for k in range(3):
            hit[k] += p * outcome[k]
    return hit[0], hit[1], hit[2]


@lru_cache(maxsize=None)
def best_play(total: int, soft: bool, dealer_value: int) -> tuple[str, Outcome]:
    """The action that maximises the expected reward (win - loss), and its outcome probabilities."""
    stand = stand_outcome(total, dealer_value)
    hit = hit_outcome(total, soft, dealer_value, best_play)
    # Ties go to stand: fewer cards, same expected reward.
    if hit[0] - hit[2] > stand[0] - stand[2] + 1e-12:
        return "hit", (hit[0], hit[1], hit[2])
    return "stand", stand


@lru_cache(maxsize=None)
def most_wins_play(total: int, soft: bool, dealer_value: int) -> tuple[str, Outcome]:
    """The action that maximises the probability of a win (draws count for nothing), and its outcome.

    Not the expert's policy: it gives up draws for a few more wins. Its win rate is the highest
    any player can reach, the ceiling of a success rate that counts wins only.
    """
    stand = stand_outcome(total, dealer_value)
    hit = hit_outcome(total, soft, dealer_value, most_wins_play)
    if hit[0] > stand[0] + 1e-12:
        return "hit", (hit[0], hit[1], hit[2])
    return "stand", stand


def game_outcome(play=best_play) -> Outcome:
    """(win, draw, loss) probabilities of a whole game, from the deal, under `play` (best_play or most_wins_play)."""
    win = draw = loss = 0.0
    for dealer_value, pd in CARD_PROBS.items():
        for a, pa in CARD_PROBS.items():
            for b, pb in CARD_PROBS.items():
                total, soft = add_card(*first_card(a), b)
                w, d, l = play(total, soft, dealer_value)[1]
                p = pd * pa * pb
                win, draw, loss = win + p * w, draw + p * d, loss + p * l
    return win, draw, loss


def optimal_outcome() -> Outcome:
    """(win, draw, loss) probabilities of a whole game under the optimal (expected-reward) policy, from the deal."""
    return game_outcome(best_play)


def blackjack_expert(obs: Observation, rng: random.Random) -> tuple[str, str]:
    """Read the hand and the dealer's card, then play the optimal action (deterministic; rng unused)."""
    state = obs.state
    total, soft, dealer = state["player_sum"], bool(state["usable_ace"]), state["dealer_value"]
    action, _ = best_play(total, soft, dealer)
    ranks = ", ".join(card["rank"] for card in state["player_cards"])
    kind = "soft" if soft else "hard"
    dealer_rank = state["dealer_card"]["rank"]
    thoughts = f"My cards {ranks} make {kind} {total}. Dealer shows {dealer_rank}. With {kind} {total} against {dealer_rank}, {action}."
    return thoughts, action
