-- name: outbox__pending :one
SELECT count(*)::bigint AS pending FROM svcinfra_outbox WHERE sent_at IS NULL AND status = 'pending'
