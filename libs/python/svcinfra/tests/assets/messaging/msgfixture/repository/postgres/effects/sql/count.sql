-- name: effects__count :one
SELECT count(*)::bigint AS n FROM effects
