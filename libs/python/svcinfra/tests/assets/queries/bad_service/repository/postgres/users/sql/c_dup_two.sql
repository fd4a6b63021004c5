-- name: users__dup :one
SELECT 2
