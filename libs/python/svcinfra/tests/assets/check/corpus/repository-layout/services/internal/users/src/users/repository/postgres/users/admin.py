"""The admin repository: drivers belong here."""

import asyncpg  # ok: repository/postgres
from svcinfra.postgres import Database  # ok: repository/postgres

ALL = (asyncpg, Database)
