-- name: accounts__get :one
SELECT 1;
