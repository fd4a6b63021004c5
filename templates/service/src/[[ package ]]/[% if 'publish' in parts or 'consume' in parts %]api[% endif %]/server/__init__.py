"""The contracts this service serves: asyncapi.yaml (MQ-1)."""
