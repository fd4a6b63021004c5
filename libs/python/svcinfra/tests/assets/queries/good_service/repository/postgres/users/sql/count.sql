-- name: users__count :one
SELECT count(*) FROM users
