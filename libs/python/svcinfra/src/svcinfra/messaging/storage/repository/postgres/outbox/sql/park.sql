-- name: outbox__park :execrows
-- The row failed `max_failures` times for a reason no retry changes: the relay leaves it to an
-- operator (`svcinfra outbox show|retry|purge`).
UPDATE svcinfra_outbox
SET
    status = 'parked',
    parked_at = now(),
    claimed_until = NULL,
    last_error = $2,
    failures = failures + 1
WHERE id = $1::uuid AND sent_at IS NULL AND status = 'pending'
