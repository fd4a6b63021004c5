"""Inbound transports: they decode, call the domain service and map its outcome (ARCH-1)."""
