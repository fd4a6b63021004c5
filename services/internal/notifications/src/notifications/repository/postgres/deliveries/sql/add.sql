-- name: deliveries__add :execrows
-- A second delivery for the same causing event is skipped, not an error: 0 rows means "recorded
-- before" (the unique source_message_id decides, PG-1). The event's mail intent becomes `sent` in
-- the same statement, hence the same transaction (MQ-3).
WITH sent AS (
    UPDATE mail_intents SET state = 'sent', sent_at = now()
    WHERE source_message_id = $2 AND state = 'intended'
)
INSERT INTO deliveries (
    notification_id, source_message_id, user_id, email, kind, provider_message_id, sent_at
)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (source_message_id) DO NOTHING;
