"""Transports: how the outside world reaches the use cases."""
