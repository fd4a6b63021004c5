-- name: session__set_name :exec
SET application_name TO 'svcinfra_dirty'
