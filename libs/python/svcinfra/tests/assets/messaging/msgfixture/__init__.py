"""A service's own tables and queries for the messaging tests: the effects handlers apply."""
