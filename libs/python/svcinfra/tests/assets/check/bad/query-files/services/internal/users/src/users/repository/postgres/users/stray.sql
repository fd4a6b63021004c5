-- name: users__stray :one
SELECT 1;
