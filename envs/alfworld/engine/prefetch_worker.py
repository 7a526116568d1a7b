"""The prefetch worker: reads jobs on stdin, answers each with the game's translation on stdout.

Started by prefetch.Prefetcher as `python -m vlm_agent.envs.alfworld.engine.prefetch_worker`.
It first answers `None` (ready: imported). A job is one pickle `(job id, game file, cache path)`; its
answer one pickle `(job id, key, Grounded)`, or `(job id, None, exception)`. The parent sends the
next job only after the answer, so it can drop queued ones. The worker ends when stdin closes.
"""
from __future__ import annotations

import os
import pickle
import sys

from vlm_agent.envs.alfworld.engine import grounding
from vlm_agent.envs.alfworld.engine.games import UnplayableGame, read_game


def main() -> None:
    answers = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # whatever else prints goes to stderr, never into the answers
    jobs = sys.stdin.buffer
    pickle.dump(None, answers)  # ready: the imports (most of a start) are done, jobs are taken now
    answers.flush()
    while True:
        try:
            job_id, game_file, path = pickle.load(jobs)
        except EOFError:
            return
        try:
            game = read_game(game_file)
            key = grounding.game_key(game.domain, game.problem)
            answer = (job_id, key, grounding.prepare(game.domain, game.problem, path))
        except Exception as error:
            # UnplayableGame travels as is; anything else may not pickle, so it travels as text.
            sent = error if isinstance(error, UnplayableGame) else RuntimeError(f"{type(error).__name__}: {error}")
            answer = (job_id, None, sent)
        pickle.dump(answer, answers)
        answers.flush()


if __name__ == "__main__":
    main()
