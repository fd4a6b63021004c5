-- name: teams__create :exec
INSERT INTO teams (id, name) VALUES ($1, $2)
