-- name: inbox__add_batch :many
-- The inbox rows of one batch of deliveries (consumer $1, message ids $2, names $3), in one
-- statement of the batch's transaction; returns the ids that were new. An id already recorded
-- (a duplicate) or repeated within the batch is returned once at most. Sorted, so two batches
-- sharing ids lock them in the same order (a concurrent duplicate waits, never deadlocks).
INSERT INTO svcinfra_inbox (consumer, message_id, message_name)
SELECT $1, m.message_id, m.message_name
FROM unnest($2::text[], $3::text[]) AS m (message_id, message_name)
ORDER BY m.message_id
ON CONFLICT (consumer, message_id) DO NOTHING
RETURNING message_id
