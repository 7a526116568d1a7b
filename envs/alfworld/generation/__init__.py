"""Generating ALFWorld games from what the alfworld wheel ships (no download needed)."""
