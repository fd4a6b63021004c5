-- name: outbox__release :exec
-- A failed publish: the row waits $2 seconds before any relay claims it again. $4 counts the
-- failure toward parking (one no retry changes) or not (an outage, a nack).
UPDATE svcinfra_outbox
SET
    claimed_until = now() + make_interval(secs => $2),
    last_error = $3,
    failures = failures + CASE WHEN $4::boolean THEN 1 ELSE 0 END
WHERE id = $1::uuid AND sent_at IS NULL
