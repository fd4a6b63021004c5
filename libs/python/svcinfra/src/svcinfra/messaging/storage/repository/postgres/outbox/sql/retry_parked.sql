-- name: outbox__retry_parked :many
-- `svcinfra outbox retry`: parked rows back to the relay with a fresh failure count, the given
-- ids ($1, or all when NULL) of the given message ($2, or any), at most $3; the NOTIFY wakes
-- the relays when the statement commits.
WITH retried AS (
    UPDATE svcinfra_outbox AS o
    SET status = 'pending', failures = 0, parked_at = NULL, claimed_until = NULL
    WHERE o.id IN (
        SELECT p.id
        FROM svcinfra_outbox AS p
        WHERE
            p.status = 'parked'
            AND ($1::uuid[] IS NULL OR p.id = ANY($1::uuid[]))
            AND ($2::text IS NULL OR p.message_name = $2)
        ORDER BY p.parked_at, p.id
        LIMIT $3
        FOR UPDATE
    )
    RETURNING o.id::text AS id
)
SELECT retried.id, pg_notify('svcinfra_outbox', '') IS NOT NULL AS notified FROM retried
