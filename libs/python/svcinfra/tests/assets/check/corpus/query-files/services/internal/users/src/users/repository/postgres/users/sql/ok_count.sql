-- name: users__count :one
-- ok: a comment line after the header
SELECT count(*) AS n FROM users;
