-- name: effects__add :exec
INSERT INTO effects (consumer, message_id, name, attempt, note) VALUES ($1, $2, $3, $4, $5)
