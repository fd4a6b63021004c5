"""The service's API contracts, shipped as package data."""
