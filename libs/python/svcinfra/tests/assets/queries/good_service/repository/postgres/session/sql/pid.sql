-- name: session__pid :one
SELECT pg_backend_pid()
