"""The AsyncAPI contract of the service (`asyncapi.yaml`, MQ-1)."""
