-- +goose Up
-- Every new version is announced on channel reos_versions when its
-- transaction commits, so each API instance can keep the versions that ETags
-- are made of in memory (postgres.WatchVersions). Triggers, not the
-- application, send them: no writer can forget.
-- +goose StatementBegin
CREATE FUNCTION notify_property_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('reos_versions', 'p' || NEW.id || ':' || NEW.version);
    RETURN NULL;
END $$;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE FUNCTION notify_collection_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.name = 'properties' THEN
        PERFORM pg_notify('reos_versions', 'c:' || NEW.version);
    END IF;
    RETURN NULL;
END $$;
-- +goose StatementEnd
CREATE TRIGGER properties_version_notify AFTER INSERT OR UPDATE OF version ON properties
    FOR EACH ROW EXECUTE FUNCTION notify_property_version();
CREATE TRIGGER versions_notify AFTER INSERT OR UPDATE OF version ON versions
    FOR EACH ROW EXECUTE FUNCTION notify_collection_version();

-- +goose Down
DROP TRIGGER versions_notify ON versions;
DROP TRIGGER properties_version_notify ON properties;
DROP FUNCTION notify_collection_version();
DROP FUNCTION notify_property_version();
