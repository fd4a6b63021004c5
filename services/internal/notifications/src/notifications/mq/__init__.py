"""The RabbitMQ side of the service: its contract and the declaration of its topology."""

from .contract import CONSUMER_NAME, load_service_contract

__all__ = ["CONSUMER_NAME", "load_service_contract"]
