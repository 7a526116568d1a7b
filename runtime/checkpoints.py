"""Versioned checkpoints with an atomically switched `latest` pointer.

Layout of a checkpoint root:
    <root>/versions/v000001/      a complete Hugging Face folder (+ value head, training state)
    <root>/versions/v000001/vlm_agent_checkpoint.json   version, parent, lineage, created
    <root>/LATEST                 the name of the newest complete version
A version is built in a temp folder and renamed into place; LATEST is switched only after that,
so a reader following LATEST never sees a half-written checkpoint.
"""
from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from vlm_agent.core.atomic import PARTIAL_SUFFIX, fsync_dir, write_atomic
from vlm_agent.core.finite_json import finite_or_none

LATEST = "LATEST"
VERSIONS = "versions"
META = "vlm_agent_checkpoint.json"


@dataclass(frozen=True)
class CheckpointRef:
    root: Path
    name: str

    @property
    def path(self) -> Path:
        return self.root / VERSIONS / self.name

    @property
    def number(self) -> int:
        return int(self.name.lstrip("v"))

    def meta(self) -> dict:
        return json.loads((self.path / META).read_text())


class CheckpointStore:
    """Publishes and finds versions under one root folder."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def latest(self) -> CheckpointRef | None:
        pointer = self.root / LATEST
        if not pointer.exists():
            return None
        name = pointer.read_text().strip()
        ref = CheckpointRef(self.root, name)
        if not (ref.path / META).exists():
            raise FileNotFoundError(f"{pointer}: points at {name}, which is not a complete checkpoint")
        return ref

    def versions(self) -> list[CheckpointRef]:
        folder = self.root / VERSIONS
        if not folder.is_dir():
            return []
        refs = [CheckpointRef(self.root, p.name) for p in folder.iterdir() if p.name.startswith("v") and (p / META).exists()]
        return sorted(refs, key=lambda r: r.number)

    def publish(self, save: Callable[[Path], None], meta: dict) -> CheckpointRef:
        """Save a new version with `save(folder)`, then switch LATEST to it."""
        previous = self.latest()
        number = (max((r.number for r in self.versions()), default=0)) + 1
        name = f"v{number:06d}"
        versions = self.root / VERSIONS
        versions.mkdir(parents=True, exist_ok=True)
        temp = versions / f".{name}.{os.getpid()}{PARTIAL_SUFFIX}"
        if temp.exists():
            shutil.rmtree(temp)
        temp.mkdir()
        try:
            save(temp)
            full_meta = finite_or_none({
                "version": name,
                "parent": previous.name if previous else meta.get("parent"),
                "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                **meta,
            })
            (temp / META).write_text(json.dumps(full_meta, indent=2, sort_keys=True, default=str) + "\n")
            os.replace(temp, versions / name)
            fsync_dir(versions)
        finally:
            if temp.exists():
                shutil.rmtree(temp)
        write_atomic(self.root / LATEST, lambda handle: handle.write(f"{name}\n".encode()))
        return CheckpointRef(self.root, name)

    def clean_partial(self) -> list[Path]:
        """Remove temp folders left by a publish that was killed; return what was removed."""
        folder = self.root / VERSIONS
        removed = [p for p in folder.glob(f".*{PARTIAL_SUFFIX}")] if folder.is_dir() else []
        for path in removed:
            shutil.rmtree(path, ignore_errors=True)
        return removed


def resolve_model_dir(path: Path) -> tuple[Path, str]:
    """A checkpoint root (follows LATEST) or a plain model folder -> (model folder, version name)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such model or checkpoint folder")
    if (path / LATEST).exists():
        ref = CheckpointStore(path).latest()
        return ref.path, ref.name
    if (path / META).exists():
        return path, json.loads((path / META).read_text()).get("version", path.name)
    return path, path.name


def load_policy(path: Path, **kwargs):
    """A checkpoint root (its LATEST version) or a plain model folder, loaded as a VLMPolicy.

    The policy's `model_root` is `path` itself (resolved), so its logs name the root, not the version.
    """
    from vlm_agent.agent.policy import VLMPolicy

    model_dir, version = resolve_model_dir(Path(path))
    kwargs.setdefault("model_root", str(Path(path).resolve()))
    return VLMPolicy.from_pretrained(model_dir, policy_version=kwargs.pop("policy_version", version), **kwargs)
