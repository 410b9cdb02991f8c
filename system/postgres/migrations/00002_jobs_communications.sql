-- +goose Up
CREATE TABLE jobs (
    id          uuid        PRIMARY KEY,
    kind        text        NOT NULL,
    status      text        NOT NULL CHECK (status IN ('queued', 'running', 'done', 'failed')),
    property_id bigint      NOT NULL REFERENCES properties (id),
    user_id     bigint      REFERENCES users (id),
    attempts    int         NOT NULL DEFAULT 0,
    as_of       date        NOT NULL,
    sha256      text        NOT NULL DEFAULT '',
    bytes       bigint      NOT NULL DEFAULT 0,
    storage_key text        NOT NULL DEFAULT '',
    error       text        NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL
);

-- Requests with an Idempotency-Key, kept 24 hours. status is NULL while the
-- first request is still running.
CREATE TABLE idempotency_keys (
    user_id      bigint      NOT NULL,
    key          text        NOT NULL,
    request_hash text        NOT NULL,
    status       int,
    headers      jsonb       NOT NULL DEFAULT '{}',
    body         bytea       NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL,
    PRIMARY KEY (user_id, key)
);

-- The transactional outbox: rows written with the change they announce,
-- published to RabbitMQ afterwards, so a broker outage loses nothing.
CREATE TABLE outbox (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    exchange     text        NOT NULL CHECK (exchange IN ('jobs', 'events')),
    routing_key  text        NOT NULL,
    message_id   text        NOT NULL,
    payload      jsonb       NOT NULL,
    created_at   timestamptz NOT NULL,
    published_at timestamptz
);
CREATE INDEX outbox_unpublished ON outbox (id) WHERE published_at IS NULL;

CREATE TABLE events (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    type       text        NOT NULL,
    subject    text        NOT NULL,
    data       jsonb       NOT NULL,
    created_at timestamptz NOT NULL
);

CREATE TABLE threads (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    property_id bigint      NOT NULL REFERENCES properties (id),
    channel     text        NOT NULL CHECK (channel IN ('email', 'sms')),
    counterpart text        NOT NULL,
    subject     text        NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL
);
CREATE INDEX threads_property ON threads (property_id);
CREATE INDEX threads_counterpart ON threads (channel, counterpart);

CREATE TABLE messages (
    id             uuid        PRIMARY KEY,
    thread_id      bigint      NOT NULL REFERENCES threads (id),
    direction      text        NOT NULL CHECK (direction IN ('outbound', 'inbound')),
    channel        text        NOT NULL CHECK (channel IN ('email', 'sms')),
    to_address     text        NOT NULL,
    from_address   text        NOT NULL,
    subject        text        NOT NULL DEFAULT '',
    body           text        NOT NULL,
    status         text        NOT NULL,
    provider_id    text        NOT NULL DEFAULT '',
    error          text        NOT NULL DEFAULT '',
    tracking_token text        NOT NULL DEFAULT '',
    links          jsonb       NOT NULL DEFAULT '[]',
    claimed_at     timestamptz,
    created_at     timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL
);
CREATE INDEX messages_thread ON messages (thread_id);
CREATE UNIQUE INDEX messages_provider_id ON messages (channel, provider_id) WHERE provider_id <> '';
CREATE UNIQUE INDEX messages_tracking ON messages (tracking_token) WHERE tracking_token <> '';

CREATE TABLE message_events (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    message_id uuid        NOT NULL REFERENCES messages (id),
    type       text        NOT NULL,
    data       jsonb       NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL
);
CREATE INDEX message_events_message ON message_events (message_id);

CREATE TABLE dead_letters (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    message_id    text        NOT NULL,
    kind          text        NOT NULL,
    payload       bytea       NOT NULL,
    reason        text        NOT NULL,
    attempts      int         NOT NULL,
    deaths        jsonb       NOT NULL DEFAULT '[]',
    first_failure text        NOT NULL DEFAULT '',
    last_failure  text        NOT NULL DEFAULT '',
    created_at    timestamptz NOT NULL,
    replayed_at   timestamptz,
    replays       int         NOT NULL DEFAULT 0
);

-- Where a do-not-contact entry came from: the seed list, an SMS opt-out
-- (which START may lift), or an operator.
ALTER TABLE dnc_entries ADD COLUMN source text NOT NULL DEFAULT 'list';

-- +goose Down
ALTER TABLE dnc_entries DROP COLUMN source;
DROP TABLE dead_letters;
DROP TABLE message_events;
DROP TABLE messages;
DROP TABLE threads;
DROP TABLE events;
DROP TABLE outbox;
DROP TABLE idempotency_keys;
DROP TABLE jobs;
