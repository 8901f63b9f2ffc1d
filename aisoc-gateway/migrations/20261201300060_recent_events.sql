-- The newest events each tenant's inbox accepted (what Slack's `/aisoc list`, `status`,
-- `investigate` and `explain` answer from), trimmed by the gateway to the newest N per tenant.
-- One row per (tenant, message id), as the event sink keeps one event per message id. `seq`
-- orders events received in the same instant.
CREATE TABLE IF NOT EXISTS aisoc_recent_events (
    tenant_id    TEXT NOT NULL,
    msg_id       TEXT NOT NULL,
    seq          BIGINT GENERATED ALWAYS AS IDENTITY,
    event_id     TEXT NOT NULL,
    source_uid   TEXT,
    title        TEXT NOT NULL,
    description  TEXT,
    severity     TEXT NOT NULL CHECK (severity IN ('info', 'low', 'medium', 'high', 'critical')),
    template_id  TEXT NOT NULL,
    product      TEXT,
    class_uid    BIGINT,
    class_name   TEXT,
    received_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, msg_id)
);

CREATE INDEX IF NOT EXISTS aisoc_recent_events_newest_idx
    ON aisoc_recent_events (tenant_id, received_at DESC, seq DESC);

-- Tenant isolation as for the other tenant tables: forced row-level security on the
-- transaction's `aisoc.tenant_id`, every statement run as `aisoc_recent_events_tenant`.
DO $$
BEGIN
    CREATE ROLE aisoc_recent_events_tenant NOLOGIN;
EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
END
$$;
DO $$
BEGIN
    EXECUTE format('GRANT aisoc_recent_events_tenant TO %I', current_user);
EXCEPTION WHEN duplicate_object OR invalid_grant_operation THEN NULL;
END
$$;

GRANT SELECT, INSERT, DELETE ON aisoc_recent_events TO aisoc_recent_events_tenant;

ALTER TABLE aisoc_recent_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE aisoc_recent_events FORCE ROW LEVEL SECURITY;

DROP POLICY IF EXISTS tenant_isolation ON aisoc_recent_events;
CREATE POLICY tenant_isolation ON aisoc_recent_events
    USING (tenant_id = current_setting('aisoc.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('aisoc.tenant_id', true));
