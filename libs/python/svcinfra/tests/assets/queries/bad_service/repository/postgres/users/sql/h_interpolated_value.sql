-- name: users__find :many
SELECT *
FROM users
WHERE status = {{ status }}
