-- name: users__dup :one
SELECT 1
