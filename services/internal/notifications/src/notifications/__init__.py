"""Reference consumer: user events to welcome emails through an external mail API.

The service keeps its own database (deliveries, inbox, outbox) and role; see the README.
"""
