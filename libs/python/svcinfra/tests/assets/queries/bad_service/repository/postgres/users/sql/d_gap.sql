-- name: users__gap :one
SELECT *
FROM users
WHERE id = $1 AND team_id = $3
