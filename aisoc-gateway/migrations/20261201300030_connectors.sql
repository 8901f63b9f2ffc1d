-- Connector freshness (issue #16): the connectors each tenant watches, their heartbeats and
-- status, shared by every gateway replica on this database. `generation` counts status flips
-- and `notified` is the generation whose connector_health notification was queued. Flips are
-- conditional UPDATEs, so of any number of replicas exactly one flips a connector. To notify,
-- a replica leases the connector (`claimed_until`), queues the notification and then raises
-- `notified`; a replica that dies in between leaves the lease to lapse, and the next one queues
-- it again under the same dedupe key (at least once, once in effect).
CREATE TABLE IF NOT EXISTS aisoc_connectors (
    tenant_id         TEXT NOT NULL,
    connector_id      TEXT NOT NULL,
    name              TEXT NOT NULL,
    window_seconds    INTEGER NOT NULL CHECK (window_seconds BETWEEN 1 AND 2592000),
    registered_at     TIMESTAMPTZ NOT NULL,
    last_heartbeat    TIMESTAMPTZ,
    status            TEXT NOT NULL DEFAULT 'healthy' CHECK (status IN ('healthy', 'stale')),
    status_changed_at TIMESTAMPTZ NOT NULL,
    generation        BIGINT NOT NULL DEFAULT 0,
    notified          BIGINT NOT NULL DEFAULT 0,
    claimed_until     TIMESTAMPTZ,
    PRIMARY KEY (tenant_id, connector_id)
);

CREATE INDEX IF NOT EXISTS aisoc_connectors_pending_idx
    ON aisoc_connectors (tenant_id, connector_id) WHERE notified < generation;

-- Tenant isolation as for approvals: row-level security keyed on the transaction's
-- `aisoc.tenant_id`, FORCEd so the owner is held to it too. The API's statements run as
-- `aisoc_connectors_tenant`; the monitor, which flips and notifies connectors of every tenant,
-- runs as `aisoc_connectors_monitor`, whose policy sees every row and which cannot insert or
-- delete.
DO $$
BEGIN
    CREATE ROLE aisoc_connectors_tenant NOLOGIN;
EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
END
$$;
DO $$
BEGIN
    CREATE ROLE aisoc_connectors_monitor NOLOGIN;
EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
END
$$;
DO $$
BEGIN
    EXECUTE format('GRANT aisoc_connectors_tenant, aisoc_connectors_monitor TO %I', current_user);
EXCEPTION WHEN duplicate_object OR invalid_grant_operation THEN NULL;
END
$$;

GRANT SELECT, INSERT, UPDATE, DELETE ON aisoc_connectors TO aisoc_connectors_tenant;
GRANT SELECT, UPDATE ON aisoc_connectors TO aisoc_connectors_monitor;

ALTER TABLE aisoc_connectors ENABLE ROW LEVEL SECURITY;
ALTER TABLE aisoc_connectors FORCE ROW LEVEL SECURITY;

DROP POLICY IF EXISTS tenant_isolation ON aisoc_connectors;
CREATE POLICY tenant_isolation ON aisoc_connectors
    USING (tenant_id = current_setting('aisoc.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('aisoc.tenant_id', true));
DROP POLICY IF EXISTS connector_monitor ON aisoc_connectors;
CREATE POLICY connector_monitor ON aisoc_connectors TO aisoc_connectors_monitor
    USING (true) WITH CHECK (true);
