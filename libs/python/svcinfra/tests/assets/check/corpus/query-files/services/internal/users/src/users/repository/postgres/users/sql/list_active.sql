-- name: users__list_active :all
SELECT id FROM users WHERE active;
