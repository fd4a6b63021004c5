"""Searches built the wrong way."""


async def search(conn, column, name):
    """Build SQL from strings."""
    await conn.fetch(f"SELECT id FROM users WHERE {column} = $1", name)
    query = "SELECT id FROM users WHERE name = '%s'" % name
    other = "DELETE FROM users WHERE id = " + str(name)
    await conn.execute("UPDATE users SET name = '{}'".format(name))
    return query, other
