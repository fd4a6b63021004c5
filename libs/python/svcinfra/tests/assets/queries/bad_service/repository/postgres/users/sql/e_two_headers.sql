-- name: users__two :one
SELECT 1;
-- name: users__three :one
SELECT 2
