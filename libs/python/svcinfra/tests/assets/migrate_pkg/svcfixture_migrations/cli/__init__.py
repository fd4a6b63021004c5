"""The CLI of a fixture service whose migrations ship as package data."""
