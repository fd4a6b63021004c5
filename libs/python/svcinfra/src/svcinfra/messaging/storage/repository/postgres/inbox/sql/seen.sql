-- name: inbox__seen :one
SELECT EXISTS (
    SELECT 1 FROM svcinfra_inbox WHERE consumer = $1 AND message_id = $2
) AS seen
