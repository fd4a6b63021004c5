"""The service's API contract, shipped as package data."""
