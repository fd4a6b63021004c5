-- name: deliveries__add_many :many
-- The deliveries of a recording group in one statement: one array per column ($1 notification
-- ids, $2 source message ids, $3 user ids, $4 emails, $5 kinds, $6 provider message ids, $7 sent
-- at), an item per delivery. Returns the source_message_ids recorded now; one recorded before is
-- skipped and left as it was (the unique source_message_id decides, PG-1). The events' mail
-- intents become `sent` in the same statement, hence the same transaction (MQ-3). Sorted, so two
-- groups sharing events lock them in the same order.
WITH sent AS (
    UPDATE mail_intents SET state = 'sent', sent_at = now()
    WHERE source_message_id = ANY($2::text[]) AND state = 'intended'
)
INSERT INTO deliveries (
    notification_id, source_message_id, user_id, email, kind, provider_message_id, sent_at
)
SELECT d.notification_id, d.source_message_id, d.user_id, d.email, d.kind,
    d.provider_message_id, d.sent_at
FROM unnest(
    $1::uuid[], $2::text[], $3::uuid[], $4::text[], $5::text[], $6::text[], $7::timestamptz[]
) AS d (notification_id, source_message_id, user_id, email, kind, provider_message_id, sent_at)
ORDER BY d.source_message_id
ON CONFLICT (source_message_id) DO NOTHING
RETURNING source_message_id;
