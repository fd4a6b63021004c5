-- name: outbox__add_leased_many :many
-- `outbox__add_leased` for several rows at once (`Outbox.add_many` with a `Dispatcher`): leased
-- to the writer for $6 seconds, counted as the first attempt, no NOTIFY. Arrays as in
-- `outbox__add_many`; returns each row's id and created_at.
INSERT INTO svcinfra_outbox (id, message_name, payload, correlation_id, headers, claimed_until, attempts)
SELECT m.id, m.message_name, m.payload::jsonb, m.correlation_id, m.headers::jsonb,
    now() + make_interval(secs => $6), 1
FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[])
    AS m (id, message_name, payload, correlation_id, headers)
RETURNING id::text AS message_id, created_at
