-- name: outbox__unclaim :execrows
-- The relay failed, not the rows (its publisher closed, the broker gone): hand the batch back at
-- once, and take back the attempt the claim counted.
UPDATE svcinfra_outbox
SET claimed_until = NULL, attempts = greatest(attempts - 1, 0)
WHERE id = ANY($1::uuid[]) AND sent_at IS NULL AND status = 'pending'
