-- name: deliveries__add :execrows
-- A second delivery for the same causing event is skipped, not an error: 0 rows means "recorded
-- before" (the unique source_message_id decides, PG-1).
INSERT INTO deliveries (
    notification_id, source_message_id, user_id, email, kind, provider_message_id, sent_at
)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (source_message_id) DO NOTHING;
