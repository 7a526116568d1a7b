"""Playing cards of an infinite deck: ranks, suits, values, and dealing them from a seeded generator."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

RANKS = ("A", "2", "3", "4", "5", "6", "7", "8", "9", "10", "J", "Q", "K")
SUITS = ("hearts", "diamonds", "clubs", "spades")
RED_SUITS = ("hearts", "diamonds")


@dataclass(frozen=True)
class Card:
    rank: str
    suit: str

    @property
    def value(self) -> int:
        """A counts 1 and J, Q, K count 10, in every game here (Blackjack adds its soft ace itself)."""
        if self.rank == "A":
            return 1
        return 10 if self.rank in ("J", "Q", "K") else int(self.rank)

    @property
    def name(self) -> str:
        return f"{self.rank} of {self.suit}"

    def as_dict(self) -> dict:
        return {"rank": self.rank, "suit": self.suit, "value": self.value}


def deal_card(np_random: np.random.Generator) -> Card:
    """A card drawn with replacement: every rank and suit equally likely."""
    return Card(RANKS[int(np_random.integers(len(RANKS)))], SUITS[int(np_random.integers(len(SUITS)))])


def card_with_value(value: int, np_random: np.random.Generator) -> Card:
    """A card of the given value, its rank and suit drawn so ranks stay uniform (10 is 10, J, Q or K)."""
    ranks = [rank for rank in RANKS if Card(rank, SUITS[0]).value == value]
    if not ranks:
        raise ValueError(f"no card has value {value}")
    rank = ranks[int(np_random.integers(len(ranks)))]
    return Card(rank, SUITS[int(np_random.integers(len(SUITS)))])


def describe_cards(cards: list[Card]) -> str:
    """"K of spades (10), 3 of hearts (3)": what the frame shows, in words."""
    return ", ".join(f"{card.name} ({card.value})" for card in cards)
