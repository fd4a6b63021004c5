"""Contracts of what the service serves and publishes: api.yaml (OpenAPI), asyncapi.yaml."""
