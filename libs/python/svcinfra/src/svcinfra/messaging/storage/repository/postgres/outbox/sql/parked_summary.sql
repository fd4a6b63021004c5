-- name: outbox__parked_summary :many
-- `svcinfra outbox list`: the parked rows by message, oldest first.
SELECT
    message_name,
    count(*)::bigint AS parked,
    min(parked_at) AS oldest,
    max(parked_at) AS newest
FROM svcinfra_outbox
WHERE status = 'parked'
GROUP BY message_name
ORDER BY min(parked_at), message_name
