-- name: session__listening :many
SELECT pg_listening_channels() AS channel
