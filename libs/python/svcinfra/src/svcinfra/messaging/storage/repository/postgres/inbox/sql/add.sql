-- name: inbox__add :execrows
-- 0 rows: this consumer already processed the message (or is processing it in another
-- transaction, which this insert waits for on the primary key).
INSERT INTO svcinfra_inbox (consumer, message_id, message_name, result)
VALUES ($1, $2, $3, $4::jsonb)
ON CONFLICT (consumer, message_id) DO NOTHING
