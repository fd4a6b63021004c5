"""Calls the network inside a transaction."""


async def register(db, http_client, publisher, email):
    """Register a user the wrong way."""
    async with db.transaction() as tx:
        await tx.execute(email)
        await http_client.post("/welcome", json={"email": email})
        await publisher.publish("user.registered.v1", {"email": email})
    await http_client.post("/after", json={})
