"""A fixture service package: its migrations are package data, loaded with importlib.resources."""
