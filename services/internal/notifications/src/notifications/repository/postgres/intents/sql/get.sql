-- name: intents__get :many
-- The intents of the events $1 written before: state and age on the server's clock (the one
-- that wrote intended_at).
SELECT
    source_message_id,
    state,
    extract(EPOCH FROM clock_timestamp() - intended_at)::float8 AS age
FROM mail_intents
WHERE source_message_id = ANY($1::text[]);
