-- name: counters__set :exec
UPDATE counters SET value = $2 WHERE id = $1
