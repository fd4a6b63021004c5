-- No unique key on message_id on purpose: a duplicate effect shows as a second row.
-- +goose Up
CREATE TABLE effects (
    id         bigserial PRIMARY KEY,
    consumer   text      NOT NULL,
    message_id text      NOT NULL,
    name       text      NOT NULL,
    attempt    integer   NOT NULL,
    note       text
);

-- +goose Down
DROP TABLE effects;
