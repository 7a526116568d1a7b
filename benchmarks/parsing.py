"""Time of `parse_action` on 1 MB answers of every shape, against the parser it replaced.

The old parser (copied below as the baseline) read each unquoted value to the next delimiter, so a
loop of `"action": x` cost time and memory quadratic in its length; it is timed at growing sizes
until one call passes --old-limit seconds, and the ratio is taken at the largest size both ran.
Printed per shape: new ms per answer at 1 MB, old ms at its size, and old / new at that size. Times are
the process's CPU time (best of --repeats): on a shared machine, wall time adds the wait for a core.

    python benchmarks/parsing.py [--megabytes 1] [--repeats 3] [--old-limit 1.0]
"""
from __future__ import annotations

import argparse
import json
import re
import time
from typing import Callable, Sequence

from vlm_agent.agent.parsing import normalize_action, parse_action

LEGAL = ["go to cabinet 1", "go to cabinet 10", "hit", "stand", "x", "-"]


def repeat(unit: str, size: int, head: str = "", tail: str = "") -> str:
    return head + unit * max(1, (size - len(head) - len(tail)) // len(unit)) + tail


SHAPES: dict[str, Callable[[int], str]] = {
    "quoted, long thoughts": lambda n: repeat("blah ", n, '{"thoughts": "', '", "action": "hit"}'),
    "unquoted repeated": lambda n: repeat('"action": x ', n),
    "unquoted, one long value": lambda n: repeat("go to ", n, '{"action": '),
    "unterminated value": lambda n: repeat("go to ", n, '{"thoughts": "x", "action": "'),
    "unterminated thoughts": lambda n: repeat("blah ", n, '{"thoughts": "'),
    "escaped quotes in value": lambda n: repeat('\\"', n, '{"action": "', '"}'),
    "nested objects": lambda n: repeat('{"action": ', n),
    "nested lists": lambda n: repeat('["action": [', n),
    "many action keys, agreeing": lambda n: repeat('"action": "hit", ', n),
    "many action keys, disagreeing": lambda n: repeat('"action": "hit", "action": "stand", ', n),
    "keys without colon": lambda n: repeat('"action" ', n),
    "key then whitespace": lambda n: repeat(" ", n, '"action":', "hit"),
    "quotes only": lambda n: repeat("\"'", n),
    "no action field": lambda n: "x" * n,
}


# --- the parser before the fix (HEAD e59f2ff), the baseline ----------------------------------------
OLD_ACTION_KEY = re.compile(r"""(["'])action\1\s*:\s*""", re.IGNORECASE)
_OLD_BARE_VALUE_END = re.compile(r"[,}\]\n]")
_OLD_DECODER = json.JSONDecoder()


def _old_read_value(answer: str, start: int):
    if start >= len(answer):
        return None
    opener = answer[start]
    if opener == '"':
        try:
            value, end = _OLD_DECODER.raw_decode(answer, start)
        except json.JSONDecodeError:
            close = answer.find('"', start + 1)
            end = (close + 1) if close != -1 else len(answer)
            value = answer[start + 1 : end - 1 if close != -1 else end]
        if not isinstance(value, str):
            return None
        return value, start + 1, max(start + 1, end - 1)
    if opener == "'":
        close = answer.find("'", start + 1)
        end = close if close != -1 else len(answer)
        return answer[start + 1 : end], start + 1, end
    if opener in "{[":
        return None
    match = _OLD_BARE_VALUE_END.search(answer, start)
    end = match.start() if match else len(answer)
    raw = answer[start:end]
    return raw.strip(), start, start + len(raw.rstrip())


def old_parse_action(answer: str, legal_actions: Sequence[str]):
    legal = {normalize_action(a): a for a in legal_actions}
    found = [read for key in OLD_ACTION_KEY.finditer(answer) if (read := _old_read_value(answer, key.end()))]
    if not found:
        return "no_action_field"
    matched = [(legal.get(normalize_action(value)), value, s, e) for value, s, e in found]
    if len(found) > 1 and len({action for action, *_ in matched}) > 1:
        return "ambiguous"
    return "ok" if matched[-1][0] is not None else "not_legal"


# --- timing --------------------------------------------------------------------------------------
def best_seconds(parse, answer: str, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        started = time.process_time()
        parse(answer, LEGAL)
        best = min(best, time.process_time() - started)
    return best


def old_seconds(make: Callable[[int], str], size: int, repeats: int, limit: float) -> tuple[int, float]:
    """(size, seconds) of the old parser at the largest size up to `size` that stays under `limit`."""
    tried = 16_000
    ran = (tried, best_seconds(old_parse_action, make(tried), 1))
    while ran[1] < limit and tried < size:
        tried = min(size, tried * 4)
        ran = (tried, best_seconds(old_parse_action, make(tried), repeats if tried == size else 1))
    return ran


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megabytes", type=float, default=1.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--old-limit", type=float, default=1.0, help="seconds one old call may take before sizes stop growing")
    args = parser.parse_args()
    size = int(args.megabytes * 1_000_000)
    print(f"{'shape':<32} {'new ms (1 MB)':>13} {'status':>16} {'old ms':>10} {'at size':>9} {'old/new':>8}")
    worst = 0.0
    for name, make in SHAPES.items():
        answer = make(size)
        new = best_seconds(parse_action, answer, args.repeats)
        worst = max(worst, new)
        old_size, old = old_seconds(make, size, args.repeats, args.old_limit)
        new_same = new if old_size == size else best_seconds(parse_action, make(old_size), args.repeats)
        status = parse_action(answer, LEGAL).status.value
        print(f"{name:<32} {new * 1000:>13.1f} {status:>16} {old * 1000:>10.1f} {old_size:>9,} {old / new_same:>7.1f}x")
    print(f"slowest new: {worst * 1000:.1f} ms (CPU) per {size:,}-character answer")


if __name__ == "__main__":
    main()
