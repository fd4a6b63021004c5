-- name: outbox__add_leased :one
-- A row its writer publishes itself right after the commit (`Dispatcher`): leased to the writer
-- for $6 seconds and counted as its first attempt, and no NOTIFY, so no relay claims it
-- meanwhile. The relay sends it if the writer does not mark it sent before the lease ends.
INSERT INTO svcinfra_outbox (id, message_name, payload, correlation_id, headers, claimed_until, attempts)
VALUES ($1::uuid, $2, $3::jsonb, $4, $5::jsonb, now() + make_interval(secs => $6), 1)
RETURNING created_at
