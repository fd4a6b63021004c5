-- name: session__lock :exec
SELECT pg_advisory_lock($1)
