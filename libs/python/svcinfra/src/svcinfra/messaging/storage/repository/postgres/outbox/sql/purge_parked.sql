-- name: outbox__purge_parked :many
-- `svcinfra outbox purge`: parked rows deleted for good, the given ids ($1, or all when NULL) of
-- the given message ($2, or any).
DELETE FROM svcinfra_outbox
WHERE
    status = 'parked'
    AND ($1::uuid[] IS NULL OR id = ANY($1::uuid[]))
    AND ($2::text IS NULL OR message_name = $2)
RETURNING id::text AS id
