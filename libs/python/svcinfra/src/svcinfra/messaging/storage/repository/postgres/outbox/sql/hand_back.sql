-- name: outbox__hand_back :execrows
-- A writer could not publish its rows (the broker down, the process stopping): the relay takes
-- them at once, woken by the notification (sent when this statement commits).
WITH handed AS (
    UPDATE svcinfra_outbox
    SET claimed_until = NULL
    WHERE id = ANY($1::uuid[]) AND sent_at IS NULL AND status = 'pending'
    RETURNING id
)
SELECT pg_notify('svcinfra_outbox', '') FROM handed
