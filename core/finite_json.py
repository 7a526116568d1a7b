"""JSON that strict readers accept: Python's json writes NaN and infinities as bare NaN/Infinity."""
from __future__ import annotations

import math


def finite_or_none(value):
    """`value` with every NaN and infinity, at any depth, replaced by None (null in JSON)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: finite_or_none(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_or_none(v) for v in value]
    return value
