"""Reference service: the users HTTP API on PostgreSQL, a Redis profile cache, events via an outbox.

See the README beside pyproject.toml: routes, events, environment and commands.
"""
