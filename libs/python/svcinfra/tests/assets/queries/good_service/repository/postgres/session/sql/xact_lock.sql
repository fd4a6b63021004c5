-- name: session__xact_lock :exec
SELECT pg_advisory_xact_lock($1)
