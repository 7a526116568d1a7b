import sys
from pathlib import Path

import pytest

# Test helpers (agents_for_tests, tiny model builders) import as plain modules.
sys.path.insert(0, str(Path(__file__).parent))

SHARED = Path(__file__).resolve().parents[1].parent / "shared"


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """A temp folder as vlm-agent's cache (generated games, translations) for one test module, not the user's."""
    from vlm_agent.envs.alfworld.engine.games import CACHE_ENV

    path = tmp_path_factory.mktemp("cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(CACHE_ENV, str(path))
        yield path
