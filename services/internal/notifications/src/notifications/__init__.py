"""Reference consumer: user events to welcome emails through an external mail API, in its own database."""
