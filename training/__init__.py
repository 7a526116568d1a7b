"""Supervised fine-tuning and PPO from episode logs; checkpoints."""
