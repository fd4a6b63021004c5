"""How fake-mail is reached: its HTTP API."""
