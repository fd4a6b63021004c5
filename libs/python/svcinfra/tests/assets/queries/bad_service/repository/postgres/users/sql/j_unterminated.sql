-- name: users__quote :one
SELECT 'unterminated
