-- name: orders__get :one
SELECT id FROM orders WHERE id = $1;
