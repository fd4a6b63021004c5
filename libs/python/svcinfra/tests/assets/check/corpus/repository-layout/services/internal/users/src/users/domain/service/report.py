"""A use case that reaches for the driver."""

from svcinfra.postgres.migrate import Migrator  # expect: PG-9
from users.domain.repository.users import UserRepository  # ok: the port

ALL = (Migrator, UserRepository)
