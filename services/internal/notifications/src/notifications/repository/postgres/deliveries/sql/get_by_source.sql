-- name: deliveries__get_by_source :one
SELECT notification_id, source_message_id, user_id, email, kind, provider_message_id, sent_at
FROM deliveries
WHERE source_message_id = $1;
