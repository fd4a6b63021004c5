"""taxes."""
