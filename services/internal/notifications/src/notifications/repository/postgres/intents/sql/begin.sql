-- name: intents__begin :execrows
-- The intent before the call; 0 rows: the event has an intent already (a redelivery).
INSERT INTO mail_intents (source_message_id, idempotency_key)
VALUES ($1, $2)
ON CONFLICT (source_message_id) DO NOTHING;
