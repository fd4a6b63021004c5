"""The error of the provisioning path."""


class ProvisionError(RuntimeError):
    """A server refused to create or update a service's account, or the input is wrong."""
