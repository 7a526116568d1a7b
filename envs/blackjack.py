"""Blackjack on gymnasium's rules, seen as an image of the cards (RL4VLM's GymCards game)."""
from __future__ import annotations

import numpy as np
from gymnasium.envs.toy_text import blackjack as gym_blackjack

from vlm_agent.envs.card_game import CardGameEnv, MoveResult
from vlm_agent.envs.cards import Card, card_with_value, describe_cards
from vlm_agent.envs.cards_paper import blackjack_frame
from vlm_agent.envs.cards_render import TEXT, draw_card_row, draw_text, new_frame, to_array

ACTIONS = ("stand", "hit")  # index = gymnasium's action (0 stick, 1 hit)


class BlackjackEnv(CardGameEnv):
    """gymnasium's Blackjack (infinite deck, dealer draws to 17, natural=False, sab=False).

    gymnasium's own environment plays the game, on this environment's np_random, so the dynamics
    and rewards are exactly its: win +1, loss or bust -1, draw 0. It deals values only, so each
    value is given a rank and suit here for the frame (10 becomes 10, J, Q or K). The frame shows
    the dealer's face-up card and a face-down one, then the dealer's whole hand when the game ends.
    The longest legal game is 20 steps (from A, A the 20th hit must bust), so the default
    max_steps=20 truncates only an agent that sends invalid strings. The "paper" frames (see
    CardGameEnv) keep the dealer's second card face down throughout, as the paper's did.
    """

    task_type = "blackjack"
    legal_actions = list(ACTIONS)

    def __init__(self, max_steps: int = 20, invalid_action_penalty: float = -1.0, render_mode: str | None = "rgb_array",
                 render: str = "clear"):
        super().__init__(invalid_action_penalty, render_mode, render)
        self.max_steps = max_steps
        self._game = gym_blackjack.BlackjackEnv(natural=False, sab=False)
        self.player_cards: list[Card] = []
        self.dealer_cards: list[Card] = []
        self.finished = False

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        self._game.np_random = self.np_random  # one generator: the seed fixes deal and card faces alike
        self._game.reset()
        self.player_cards, self.dealer_cards = [], []
        self._name_new_cards()
        self.finished = False
        return self.start_episode()

    def play(self, move: str) -> MoveResult:
        _, reward, terminated, _, _ = self._game.step(ACTIONS.index(move))
        self._name_new_cards()
        self.finished = terminated
        return MoveResult(reward, terminated=terminated, success=terminated and reward > 0)

    def _name_new_cards(self) -> None:
        """Give a rank and suit to each card gymnasium dealt since the last call."""
        for hand, cards in ((self._game.player, self.player_cards), (self._game.dealer, self.dealer_cards)):
            cards.extend(card_with_value(value, self.np_random) for value in hand[len(cards):])

    def describe(self) -> str:
        text = f"Dealer shows: {describe_cards(self.dealer_cards[:1])}. Your cards: {describe_cards(self.player_cards)}, "
        text += f"sum {self._player_sum()}" + (" with a usable ace." if self._usable_ace() else ".")
        if self.finished:
            text += f" Dealer's hand: {describe_cards(self.dealer_cards)}, sum {gym_blackjack.sum_hand(self._game.dealer)}."
        return text

    def state(self) -> dict:
        dealer_card = self.dealer_cards[0]
        state = {
            "player_cards": [card.as_dict() for card in self.player_cards],
            "player_sum": self._player_sum(),
            "usable_ace": self._usable_ace(),
            "dealer_card": dealer_card.as_dict(),
            "dealer_value": dealer_card.value,
        }
        if self.finished:  # the hidden card is shown only once it can no longer help the player
            state["dealer_cards"] = [card.as_dict() for card in self.dealer_cards]
            state["dealer_sum"] = int(gym_blackjack.sum_hand(self._game.dealer))
        return state

    def _player_sum(self) -> int:
        return int(gym_blackjack.sum_hand(self._game.player))

    def _usable_ace(self) -> bool:
        return bool(gym_blackjack.usable_ace(self._game.player))

    def render_paper(self) -> np.ndarray:
        # The paper's frame never turns the dealer's hole card over, not even when the game ends.
        return blackjack_frame(self.dealer_cards[0], self.player_cards)

    def render_clear(self) -> np.ndarray:
        image, draw = new_frame()
        draw_text(draw, "Dealer", 8, 28, TEXT)
        dealer = self.dealer_cards if self.finished else [self.dealer_cards[0], None]
        draw_card_row(draw, dealer, top=42, max_height=100)
        draw_text(draw, "You", 152, 28, TEXT)
        draw_card_row(draw, self.player_cards, top=186, max_height=106)
        return to_array(image)
