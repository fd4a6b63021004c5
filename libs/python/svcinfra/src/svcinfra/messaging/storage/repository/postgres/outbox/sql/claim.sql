-- name: outbox__claim :many
-- One statement, so the claim commits on its own: no transaction stays open while the relay
-- publishes (PG-12). SKIP LOCKED lets relays side by side take disjoint batches; the lease
-- ($2 seconds) hands a batch to another relay if its claimer died before marking it sent.
-- Parked rows are left alone.
UPDATE svcinfra_outbox AS o
SET claimed_until = now() + make_interval(secs => $2), attempts = o.attempts + 1
WHERE o.id IN (
    SELECT u.id
    FROM svcinfra_outbox AS u
    WHERE
        u.sent_at IS NULL
        AND u.status = 'pending'
        AND (u.claimed_until IS NULL OR u.claimed_until < now())
    ORDER BY u.created_at, u.id
    LIMIT $1
    FOR UPDATE SKIP LOCKED
)
RETURNING
    o.id::text AS id,
    o.message_name,
    o.payload::text AS payload,
    o.correlation_id,
    o.headers::text AS headers,
    o.attempts,
    o.failures,
    o.created_at
