"""A transformers streamer that hands a UI every row's partial answer after each generated token."""
from __future__ import annotations

from typing import Callable

from transformers.generation.streamers import BaseStreamer


class BatchTextStreamer(BaseStreamer):
    """Calls `callback(partial_texts)` with one decoded partial answer per batch row per token.

    generate() first puts the prompt ids, which are skipped; rows that finished keep their text.
    """

    def __init__(self, tokenizer, batch_size: int, callback: Callable[[list[str]], None], eos_ids: set[int]):
        self.tokenizer = tokenizer
        self.callback = callback
        self.eos_ids = eos_ids
        self._ids: list[list[int]] = [[] for _ in range(batch_size)]
        self._done = [False] * batch_size
        self._prompt_seen = False

    def put(self, value) -> None:
        if not self._prompt_seen:
            self._prompt_seen = True
            return
        for row, token in enumerate(value.reshape(-1).tolist()):
            if self._done[row]:
                continue
            self._ids[row].append(token)
            self._done[row] = token in self.eos_ids
        self.callback([self.tokenizer.decode(ids, skip_special_tokens=True) for ids in self._ids])

    def end(self) -> None:
        pass
