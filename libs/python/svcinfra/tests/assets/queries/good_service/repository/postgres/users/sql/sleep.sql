-- name: users__sleep :exec
SELECT pg_sleep($1)
