-- name: outbox__release :exec
-- A failed publish: the row waits $2 seconds before any relay claims it again.
UPDATE svcinfra_outbox
SET claimed_until = now() + make_interval(secs => $2), last_error = $3
WHERE id = $1::uuid AND sent_at IS NULL
