-- +goose Up
-- +goose ENVSUB ON
COMMENT ON TABLE users IS '${SVCINFRA_TEST_USERS_COMMENT:-no comment given}';
-- +goose ENVSUB OFF
COMMENT ON COLUMN users.name IS '${not substituted}';

-- +goose Down
COMMENT ON COLUMN users.name IS NULL;
COMMENT ON TABLE users IS NULL;
