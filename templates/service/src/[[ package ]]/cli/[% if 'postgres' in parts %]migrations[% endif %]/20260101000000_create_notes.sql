-- The notes table; the domain's rule on the text is a constraint here too (PG-1).
-- +goose Up
SET LOCAL lock_timeout = '1s';
SET LOCAL statement_timeout = '5s';

CREATE TABLE notes (
    id         uuid        NOT NULL DEFAULT gen_random_uuid(),
    text       text        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT notes_pkey PRIMARY KEY (id),
    CONSTRAINT notes_text_check CHECK (char_length(text) BETWEEN 1 AND 500)
);

-- +goose Down
DROP TABLE notes;
