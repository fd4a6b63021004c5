-- name: intents__get :one
-- The intent's state and its age on the server's clock (the one that wrote intended_at).
SELECT state, extract(EPOCH FROM clock_timestamp() - intended_at)::float8 AS age
FROM mail_intents
WHERE source_message_id = $1;
