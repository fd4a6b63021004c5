-- name: users__get_partial :one
SELECT id, username FROM users WHERE id = $1
