-- name: users__get_by_id :one
SELECT id, email, created_at FROM users WHERE id = $1;
