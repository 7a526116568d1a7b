"""Scripted experts: near-optimal agents whose answers are supervised training data."""
