-- name: inbox__purge :execrows
DELETE FROM svcinfra_inbox WHERE processed_at < now() - make_interval(secs => $1)
