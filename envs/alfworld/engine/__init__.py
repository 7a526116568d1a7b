"""alfworld's TextWorld engine made fast: game files, grounding, the command grammar, the privileged expert, prefetching."""
