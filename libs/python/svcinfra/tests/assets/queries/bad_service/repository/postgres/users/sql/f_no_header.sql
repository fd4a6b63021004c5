-- Get a user.
SELECT 1
