"""Helpers shared by the layers."""
