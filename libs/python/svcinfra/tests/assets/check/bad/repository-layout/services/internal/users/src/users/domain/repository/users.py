"""Not a port."""


class UserRepository:
    """A concrete class in the ports folder."""
