-- name: outbox__mark_sent :execrows
UPDATE svcinfra_outbox
SET sent_at = now(), status = 'sent', claimed_until = NULL, last_error = NULL
WHERE id = ANY($1::uuid[]) AND sent_at IS NULL
