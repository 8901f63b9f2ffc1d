-- Each tenant's ticketing-system credentials for create_ticket (jira, servicenow, pagerduty,
-- opsgenie). The settings are stored only sealed with AISOC_DATA_KEY (the CHECK refuses
-- anything else), bound to the tenant and system, so a copied value does not open elsewhere;
-- set_fields names the fields that hold a value, for a listing that never shows them.
CREATE TABLE IF NOT EXISTS aisoc_itsm_credentials (
    tenant_id     TEXT NOT NULL,
    system        TEXT NOT NULL CHECK (system IN ('jira', 'servicenow', 'pagerduty', 'opsgenie')),
    config_sealed TEXT NOT NULL CHECK (config_sealed LIKE 'sealed:v1:%'),
    set_fields    JSONB NOT NULL DEFAULT '[]'::jsonb,
    updated_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, system)
);

-- Tenant isolation, the mechanism of the other tenant tables: row-level security keyed on the
-- transaction's `aisoc.tenant_id` setting, FORCEd so that the table's owner is held to it too.
-- Every read and write runs as `aisoc_itsm_tenant` (SET LOCAL ROLE), so even a superuser
-- connection sees one tenant's rows only.
DO $$
BEGIN
    CREATE ROLE aisoc_itsm_tenant NOLOGIN;
EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
END
$$;
DO $$
BEGIN
    EXECUTE format('GRANT aisoc_itsm_tenant TO %I', current_user);
EXCEPTION WHEN duplicate_object OR invalid_grant_operation THEN NULL;
END
$$;

GRANT SELECT, INSERT, UPDATE, DELETE ON aisoc_itsm_credentials TO aisoc_itsm_tenant;

ALTER TABLE aisoc_itsm_credentials ENABLE ROW LEVEL SECURITY;
ALTER TABLE aisoc_itsm_credentials FORCE ROW LEVEL SECURITY;

DROP POLICY IF EXISTS tenant_isolation ON aisoc_itsm_credentials;
CREATE POLICY tenant_isolation ON aisoc_itsm_credentials
    USING (tenant_id = current_setting('aisoc.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('aisoc.tenant_id', true));
