"""The users domain: entities, ports, errors and use cases; no driver, SDK or adapter (ARCH-1)."""
