"""Who played a set of logs: the models and environments their runs' manifests record.

`finetune LOGS` with no --model starts from the model that played them; its closing hint plays the
same environments. A manifest's `model` of None (written before play recorded the model it used,
or by a scripted agent) means the shipped default.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from vlm_agent.runtime.episode_log import EPISODES_DIR, MANIFEST


@dataclass(frozen=True)
class LogOrigin:
    models: tuple[Path, ...]  # distinct, as recorded (relative to where `play` ran)
    env_ids: tuple[str, ...]

    def model(self, logs: list[Path]) -> Path:
        """The one model that played the logs; ValueError asking for --model when it is not one."""
        if len(self.models) == 1:
            return self.models[0]
        names = ", ".join(map(str, logs))
        if not self.models:
            raise ValueError(f"{names}: no run manifest says which model played these logs; pass --model")
        raise ValueError(f"{names}: played by {len(self.models)} models ({', '.join(map(str, self.models))}); pass --model")


def log_origin(paths: Iterable[Path]) -> LogOrigin:
    """The models and environments recorded by the manifests of the runs under (or holding) `paths`."""
    from vlm_agent.runtime.agent_factory import default_model_dir

    models: dict[Path, Path] = {}
    env_ids: dict[str, None] = {}
    for manifest in _manifests(paths):
        try:
            data = json.loads(manifest.read_text())
        except (OSError, json.JSONDecodeError):
            continue  # an unreadable manifest: its episodes still train, they just do not vote
        model = Path(data["model"]) if data.get("model") else default_model_dir()
        models.setdefault(model.resolve(), model)
        env_id = (data.get("loop") or {}).get("env_id")
        if env_id:
            env_ids.setdefault(env_id)
    return LogOrigin(tuple(models.values()), tuple(env_ids))


def _manifests(paths: Iterable[Path]) -> list[Path]:
    found: dict[Path, None] = {}
    for path in map(Path, paths):
        if path.is_file():  # an episode file: runs/<run>/episodes/<episode>.parquet
            candidates = [path.parent.parent / MANIFEST] if path.parent.name == EPISODES_DIR else []
        else:
            candidates = [path / MANIFEST, *sorted(path.rglob(MANIFEST))]
        found.update((c, None) for c in candidates if c.is_file())
    return list(found)
