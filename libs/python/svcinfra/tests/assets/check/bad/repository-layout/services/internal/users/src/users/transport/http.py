"""HTTP handlers."""

import asyncpg
