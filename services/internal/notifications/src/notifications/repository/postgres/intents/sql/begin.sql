-- name: intents__begin :many
-- The intents before the calls of the events $1 (keys $2), one statement for the calls that
-- start together; returns the events whose intent this wrote. An event left out has one already
-- (a redelivery). Sorted, so two statements sharing events lock them in the same order.
INSERT INTO mail_intents (source_message_id, idempotency_key)
SELECT i.source_message_id, i.idempotency_key
FROM unnest($1::text[], $2::text[]) AS i (source_message_id, idempotency_key)
ORDER BY i.source_message_id
ON CONFLICT (source_message_id) DO NOTHING
RETURNING source_message_id;
