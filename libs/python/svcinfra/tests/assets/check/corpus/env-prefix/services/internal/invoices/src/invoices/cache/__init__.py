"""Cache."""

import redis

CLIENT = redis
