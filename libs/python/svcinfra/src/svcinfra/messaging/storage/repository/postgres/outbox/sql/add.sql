-- name: outbox__add :exec
-- The notification is delivered when the caller's transaction commits, not before.
WITH added AS (
    INSERT INTO svcinfra_outbox (id, message_name, payload, correlation_id, headers)
    VALUES ($1::uuid, $2, $3::jsonb, $4, $5::jsonb)
    RETURNING id
)
SELECT pg_notify('svcinfra_outbox', '') FROM added
