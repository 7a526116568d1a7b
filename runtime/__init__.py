"""Environments, the loop that connects agent and environments, episode logs, the CLI."""
