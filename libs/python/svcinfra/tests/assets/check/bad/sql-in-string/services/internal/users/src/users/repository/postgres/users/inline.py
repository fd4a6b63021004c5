"""SQL kept in a string."""

GET = "SELECT id, email FROM users WHERE id = $1"
PROSE = "Select a user from the list"
