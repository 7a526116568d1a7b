"""Primitives every layer may use and that import nothing of the project: crash-safe writes, strict JSON."""
