-- name: effects__in_transaction :one
-- Whether the calling session has an open transaction (the external mode must not).
SELECT count(*)::bigint AS n FROM pg_stat_activity
WHERE datname = current_database() AND state LIKE 'idle in transaction%'
