"""The notifications domain: welcome emails for new users, and the record of each one sent.

It knows nothing of Postgres, RabbitMQ, HTTP or svcinfra (ARCH-1): its ports are
`typing.Protocol`s (`domain.repository`, `domain.service.ports`) that the adapters implement
and `notifications.app` wires.
"""
