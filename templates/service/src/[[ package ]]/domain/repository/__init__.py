"""The ports of the domain's stores (PG-9): typing.Protocols the adapters implement."""
