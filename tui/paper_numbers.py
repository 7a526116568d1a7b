"""The RL4VLM paper's success rates (%) that our figures are drawn against (shared/docs/rl4vlm.md).

The one copy: docs/make_results.py's tables and the figures both read them from here.
"""
from __future__ import annotations

ENV_COLUMNS = {  # env id -> column title
    "vlm_agent/NumberLine-v0": "NumberLine",
    "vlm_agent/EZPoints-v0": "EZPoints",
    "vlm_agent/Points24-v0": "Points24",
    "vlm_agent/Blackjack-v0": "Blackjack",
    "vlm_agent/ALFWorld-v0": "ALFWorld",
}
PAPER_ROWS = [  # method, success % per column of ENV_COLUMNS
    ("RL4VLM (LLaVA-1.6-7B, SFT + PPO)", [89.4, 50.0, 2.3, 40.2, 21.7]),
    ("RL4VLM without CoT", [26.9, 29.9, 0.0, 40.4, 16.3]),
    ("LLaVA-1.6-7B SFT only", [24.8, 23.0, 2.6, 23.1, 17.7]),
    ("GPT-4V (prompted)", [65.5, 10.5, 0.0, 25.5, 19.4]),
    ("CNN + RL", [87.1, 0.0, 0.0, 38.8, 0.0]),
]
ALFWORLD_TYPES = {  # our task-type names -> the paper's column, with RL4VLM's per-type success
    "pick_and_place_simple": ("Pick", 47.4),
    "look_at_obj_in_light": ("Look", 14.7),
    "pick_clean_then_place_in_recep": ("Clean", 10.4),
    "pick_heat_then_place_in_recep": ("Heat", 14.4),
    "pick_cool_then_place_in_recep": ("Cool", 18.8),
    "pick_two_obj_and_place": ("Pick2", 18.0),
}
