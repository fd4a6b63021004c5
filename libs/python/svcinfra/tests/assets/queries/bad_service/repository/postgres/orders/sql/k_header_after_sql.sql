SELECT 1;
-- name: users__late :one
