"""Constants of the partner integration."""

AUTH_HEADERS = {"Authorization": "Bearer 8fJk2LmQ9xZt4VbN7pRs"}  # expect: CF-2
DB_PASSWORD = "Passw0rd2024"  # expect: CF-2
smtp_password = "Summer2024!"  # expect: CF-2
ROUTING_KEY = "user.created.v1"  # ok: a routing key is no secret
KEY_PREFIX = "users:profile:"  # ok: a key prefix
TOKEN_URL = "https://auth.partner.example/oauth/token"  # ok: a URL
PUBLISHABLE_KEY = "pk_test_51HxYzExample"  # ok: publishable by design
PASSWORD_MIN_LENGTH = 12  # ok: a number about passwords
