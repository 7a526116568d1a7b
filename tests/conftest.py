import sys
from pathlib import Path

# Test helpers (agents_for_tests, tiny model builders) import as plain modules.
sys.path.insert(0, str(Path(__file__).parent))

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
