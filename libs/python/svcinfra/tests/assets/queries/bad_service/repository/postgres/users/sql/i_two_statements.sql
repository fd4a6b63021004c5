-- name: users__wipe :exec
DELETE FROM a;
DELETE FROM b;
