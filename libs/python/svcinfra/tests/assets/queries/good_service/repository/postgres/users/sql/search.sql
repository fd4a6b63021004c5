-- name: users__search :many
-- Users matching optional filters, sorted by an allow-listed key, one keyset page at a time.
-- `after_key` / `after_id` are the sort value and id of the last row of the previous page.
SELECT id, team_id, username, email, status, created_at
FROM users
WHERE true
{{ if status }}  AND status = @status{{ end }}
{{ if team_id }}  AND team_id = @team_id{{ end }}
{{ if name_prefix }}  AND username LIKE @name_prefix || '%'{{ end }}
{{ if after_id }}  AND ({{ sort: id | username | created => created_at }}, id)
      {{ direction: asc => > | desc => < }} (@after_key, @after_id){{ end }}
ORDER BY {{ sort: id | username | created => created_at }} {{ direction: asc => ASC | desc => DESC }},
         id {{ direction: asc => ASC | desc => DESC }}
LIMIT @limit
