"""The Redis profile cache."""
