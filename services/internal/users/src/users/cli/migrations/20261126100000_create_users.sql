-- The users table: the domain's rules are constraints here too, so no writer can break them (PG-1);
-- every index serves a query in repository/postgres/users/sql/ and nothing else (PG-4).
-- +goose Up
SET LOCAL lock_timeout = '1s';
SET LOCAL statement_timeout = '5s';

CREATE TABLE users (
    id           uuid        NOT NULL DEFAULT gen_random_uuid(),
    email        text        NOT NULL,
    -- COLLATE "C": usernames are [a-z0-9_] only, so byte order is the natural order; the sort
    -- of a page by username and the prefix range below agree with the index whatever the
    -- database's default collation is.
    username     text        COLLATE "C" NOT NULL,
    display_name text        NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT users_pkey PRIMARY KEY (id),
    -- users__get_by_username, users__search sorted by username (keyset on (username, id)) and
    -- filtered by username_prefix (a range [prefix, prefix_end)) all use this constraint's
    -- index: no separate one is needed.
    CONSTRAINT users_username_key UNIQUE (username),
    -- users__search filtered by email (an exact match) uses this constraint's index.
    CONSTRAINT users_email_key UNIQUE (email),
    CONSTRAINT users_username_check CHECK (username ~ '^[a-z0-9_]{3,32}$'),
    CONSTRAINT users_email_check CHECK (
        char_length(email) <= 254
        AND email = lower(email)
        AND email ~ '^[^@[:space:]]+@[^@[:space:].]+(\.[^@[:space:].]+)+$'
    ),
    CONSTRAINT users_display_name_check CHECK (
        char_length(display_name) BETWEEN 1 AND 100 AND display_name !~ '[[:cntrl:]]'
    ),
    CONSTRAINT users_updated_at_check CHECK (updated_at >= created_at)
);

-- users__search sorted by created_at (the default order, both directions) with keyset pagination
-- on (created_at, id), and its created_after / created_before range filters: an index scan in
-- the order of the page, forward or backward, that stops after `limit + 1` rows.
CREATE INDEX users_created_at_id_idx ON users (created_at, id);

-- +goose Down
DROP TABLE users;
