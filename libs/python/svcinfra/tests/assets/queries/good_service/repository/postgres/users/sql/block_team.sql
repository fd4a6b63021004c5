-- name: users__block_team :execrows
UPDATE users SET status = 'blocked' WHERE team_id = $1 AND status <> 'blocked'
