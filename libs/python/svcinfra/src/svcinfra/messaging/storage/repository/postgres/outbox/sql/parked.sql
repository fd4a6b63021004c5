-- name: outbox__parked :many
-- `svcinfra outbox show`: parked rows, oldest first; $2 filters by message name when not NULL.
SELECT
    id::text AS id,
    message_name,
    correlation_id,
    attempts,
    failures,
    created_at,
    parked_at,
    last_error,
    payload::text AS payload
FROM svcinfra_outbox
WHERE status = 'parked' AND ($2::text IS NULL OR message_name = $2)
ORDER BY parked_at, id
LIMIT $1
