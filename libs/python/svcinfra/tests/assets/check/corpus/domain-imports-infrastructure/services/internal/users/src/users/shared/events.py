"""Events on aio-pika."""

import aio_pika

EXCHANGE = aio_pika.ExchangeType.TOPIC
