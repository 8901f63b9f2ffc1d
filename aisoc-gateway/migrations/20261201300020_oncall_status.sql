-- Responders' on-call statuses (PUT /api/v1/oncall); the Web Push fan-out skips users who are
-- offline or snoozed. One row per (tenant, user).
CREATE TABLE IF NOT EXISTS aisoc_oncall_status (
    tenant_id  TEXT NOT NULL,
    user_id    TEXT NOT NULL CHECK (char_length(user_id) BETWEEN 1 AND 256),
    status     TEXT NOT NULL CHECK (status IN ('available', 'busy', 'offline', 'snoozed')),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, user_id)
);

-- Tenant isolation as for the other tenant tables: forced row-level security on the
-- transaction's `aisoc.tenant_id`, every statement run as `aisoc_oncall_tenant`.
DO $$
BEGIN
    CREATE ROLE aisoc_oncall_tenant NOLOGIN;
EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
END
$$;
DO $$
BEGIN
    EXECUTE format('GRANT aisoc_oncall_tenant TO %I', current_user);
EXCEPTION WHEN duplicate_object OR invalid_grant_operation THEN NULL;
END
$$;

GRANT SELECT, INSERT, UPDATE, DELETE ON aisoc_oncall_status TO aisoc_oncall_tenant;

ALTER TABLE aisoc_oncall_status ENABLE ROW LEVEL SECURITY;
ALTER TABLE aisoc_oncall_status FORCE ROW LEVEL SECURITY;

DROP POLICY IF EXISTS tenant_isolation ON aisoc_oncall_status;
CREATE POLICY tenant_isolation ON aisoc_oncall_status
    USING (tenant_id = current_setting('aisoc.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('aisoc.tenant_id', true));
