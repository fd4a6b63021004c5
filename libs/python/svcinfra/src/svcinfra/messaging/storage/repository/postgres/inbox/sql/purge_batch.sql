-- name: inbox__purge_batch :execrows
-- One batch of the consumer's inbox clean-up: at most $3 rows of consumer $1 processed before
-- $2. Replicas purging at once take disjoint rows (SKIP LOCKED) and never wait on each other
-- nor on a consumer's transaction holding a row; each batch commits on its own, so no lock is
-- held long.
DELETE FROM svcinfra_inbox AS i
USING (
    SELECT o.consumer, o.message_id
    FROM svcinfra_inbox AS o
    WHERE o.consumer = $1 AND o.processed_at < $2::timestamptz
    ORDER BY o.processed_at
    LIMIT $3
    FOR UPDATE SKIP LOCKED
) AS old
WHERE i.consumer = old.consumer AND i.message_id = old.message_id
