"""Admin endpoints that query the database themselves."""

import asyncpg  # expect: PG-9
from sqlalchemy import select  # expect: PG-9
from svcinfra.postgres import Database  # expect: PG-9
import psycopg  # expect: PG-9
from users.domain.service import users  # ok: the use cases

ALL = (asyncpg, select, Database, psycopg, users)
