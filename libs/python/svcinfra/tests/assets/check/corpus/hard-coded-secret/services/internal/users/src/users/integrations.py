"""Integration settings."""

STRIPE = {"api_key": "sk_test_4eC39HqLyjWDarjtT1zdp7dc"}  # expect: CF-2
webhookSecret = "whsec_9f8e7d6c5b4a"  # expect: CF-2
JWT_SIGNING_KEY = "correct-horse-battery-staple"  # expect: CF-2
REDIS_URL = "redis://:hunter2hunter2@cache:6379/0"  # expect: CF-2
HEADERS = {"X-Api-Token": "0f9a8b7c6d5e4f3a2b1c"}  # expect: CF-2
CACHE_KEY_TEMPLATE = "users:profile:{id}"  # ok: not a secret
password_reset_ttl = 3600  # ok: a number
AUTH_HEADER_NAME = "Authorization"  # ok: a header name
