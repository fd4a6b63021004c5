-- name: outbox__add_many :exec
-- Several notifications written by one statement (`Outbox.add_many`): ids $1, names $2, payloads
-- $3 and headers $5 as JSON text, correlation ids $4 (null where none). Delivered when the
-- caller's transaction commits, not before; one NOTIFY for them all.
WITH added AS (
    INSERT INTO svcinfra_outbox (id, message_name, payload, correlation_id, headers)
    SELECT m.id, m.message_name, m.payload::jsonb, m.correlation_id, m.headers::jsonb
    FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[])
        AS m (id, message_name, payload, correlation_id, headers)
    RETURNING id
)
SELECT pg_notify('svcinfra_outbox', '') WHERE EXISTS (SELECT FROM added)
