"""The notes table."""
