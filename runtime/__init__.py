"""The loop that steps environments with one agent, step records, episode logs, statistics, checkpoint storage."""
