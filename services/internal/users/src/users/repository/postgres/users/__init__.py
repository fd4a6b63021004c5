"""The users table: the UserReader and UserWriter ports on PostgreSQL."""
