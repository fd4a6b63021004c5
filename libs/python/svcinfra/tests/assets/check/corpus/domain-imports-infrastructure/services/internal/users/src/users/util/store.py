"""A database helper on svcinfra's Postgres adapter."""

from svcinfra.postgres import Database

DB: Database | None = None
