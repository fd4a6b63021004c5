-- name: session__app_name :one
SELECT current_setting('application_name')
