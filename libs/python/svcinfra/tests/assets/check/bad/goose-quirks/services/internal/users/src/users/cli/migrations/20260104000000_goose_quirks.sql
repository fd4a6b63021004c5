-- +goose Up
INSERT INTO notes VALUES ('a -- b');
SELECT 1;
INSERT INTO notes VALUES ('multi
line'); -- trailing note
-- +goose ENVSUB ON
INSERT INTO notes VALUES ('${NOTE?must be set}');
-- +goose StatementBegin
CREATE FUNCTION f() RETURNS int AS $$ SELECT 1 $$ LANGUAGE sql;
-- +goose StatementEnd
-- +goose ENVSUB OFF
CREATE FUNCTION g() RETURNS int AS $$ SELECT 1 $$ LANGUAGE sql; -- fine: ENVSUB is off

-- +goose Down
DROP FUNCTION g();
DROP FUNCTION f();
