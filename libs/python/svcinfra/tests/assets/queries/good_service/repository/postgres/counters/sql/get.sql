-- name: counters__get :one
SELECT value FROM counters WHERE id = $1
