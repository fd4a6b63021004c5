-- name: outbox__purge_sent :execrows
DELETE FROM svcinfra_outbox WHERE sent_at < now() - make_interval(secs => $1)
