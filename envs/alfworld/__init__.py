"""ALFWorld over the real alfworld/TextWorld engine."""
