-- name: orders__get :one
SELECT 1
