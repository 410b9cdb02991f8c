-- +goose Up
-- Versions of collections, for ETags: bumped in the same transaction as any
-- write that changes what a list, the pipeline or the export shows.
CREATE TABLE versions (
    name    text   PRIMARY KEY,
    version bigint NOT NULL
);
INSERT INTO versions (name, version) VALUES ('properties', 1);

-- +goose Down
DROP TABLE versions;
