"""Supervised fine-tuning, vision pretraining and PPO from episode logs, publishing into checkpoint storage."""
