"""Reads rows by position."""


async def email(conn, user_id):
    """Return the email."""
    row = await conn.fetchrow(user_id)
    return row[1]
