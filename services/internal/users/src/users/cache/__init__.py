"""Cache adapters: the profile cache in Redis (RD-1 .. RD-7)."""
