-- name: inbox__add_results :many
-- The inbox rows of external-mode messages recorded together (consumer $1, message ids $2,
-- names $3, results $4 as JSON text), in one statement of their recording transaction; returns
-- the ids that were new. An id already recorded (a duplicate) or repeated in the group is
-- returned once at most. Sorted, so two groups sharing ids lock them in the same order.
INSERT INTO svcinfra_inbox (consumer, message_id, message_name, result)
SELECT $1, m.message_id, m.message_name, m.result::jsonb
FROM unnest($2::text[], $3::text[], $4::text[]) AS m (message_id, message_name, result)
ORDER BY m.message_id
ON CONFLICT (consumer, message_id) DO NOTHING
RETURNING message_id
