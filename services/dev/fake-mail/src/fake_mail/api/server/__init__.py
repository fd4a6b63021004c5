"""The contract of what the service serves: api.yaml (OpenAPI)."""
