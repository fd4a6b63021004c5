-- name: users__search :many
-- route: standby
-- Users matching optional filters, in one allow-listed order, one keyset page at a time (PG-6).
-- `after_key` / `after_id` are the sort key and id of the last user of the previous page; the
-- (key, id) row comparison matches the order of the indexes users_created_at_id_idx and
-- users_username_key, so a page is an index range scan that stops after `limit` rows (PG-4).
-- Usernames are unique: ordering by username alone is total, and needs no sort step on top of
-- users_username_key (ordering by username, id would).
-- A username prefix is the range [prefix, prefix_end), prefix_end being the prefix with its last
-- character incremented: an index range even in a generic plan, where LIKE 'pre%' is not.
SELECT id, email, username, display_name, created_at, updated_at
FROM users
WHERE true
{{ if email }}  AND email = @email{{ end }}
{{ if username_prefix }}  AND username >= @username_prefix AND username < @username_prefix_end{{ end }}
{{ if created_after }}  AND created_at >= @created_after{{ end }}
{{ if created_before }}  AND created_at < @created_before{{ end }}
{{ if after_id }}  AND ({{ sort: created_at | username }}, id)
      {{ direction: asc => > | desc => < }} (@after_key, @after_id){{ end }}
ORDER BY {{ order: created_at_asc => created_at ASC, id ASC
                 | created_at_desc => created_at DESC, id DESC
                 | username_asc => username ASC
                 | username_desc => username DESC }}
LIMIT @limit
