"""The service's published interfaces, shipped as package data."""
