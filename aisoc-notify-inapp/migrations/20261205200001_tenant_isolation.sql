-- Tenant isolation for in-app notifications (issue #15), the mechanism of the approvals
-- tables: row-level security keyed on the transaction's `aisoc.tenant_id` setting, FORCEd so
-- that the table's owner is held to it too. Every list, count and mark runs as
-- `aisoc_inapp_tenant` (the store switches to it with SET LOCAL ROLE, so even a superuser
-- connection is isolated).
--
-- The one deliberate bypass is `aisoc_inapp_retention`: purging notifications older than the
-- retention cutoff in every tenant. It may only read and delete; only the purge switches to it.
DO $$
BEGIN
    CREATE ROLE aisoc_inapp_tenant NOLOGIN;
EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
END
$$;
DO $$
BEGIN
    CREATE ROLE aisoc_inapp_retention NOLOGIN;
EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
END
$$;

-- The connecting role switches to both (a role's creator may already be a member).
DO $$
BEGIN
    EXECUTE format('GRANT aisoc_inapp_tenant, aisoc_inapp_retention TO %I', current_user);
EXCEPTION WHEN duplicate_object OR invalid_grant_operation THEN NULL;
END
$$;

GRANT SELECT, INSERT, UPDATE ON aisoc_inapp_notifications TO aisoc_inapp_tenant;
GRANT USAGE ON SEQUENCE aisoc_inapp_notifications_id_seq TO aisoc_inapp_tenant;
GRANT SELECT, DELETE ON aisoc_inapp_notifications TO aisoc_inapp_retention;

ALTER TABLE aisoc_inapp_notifications ENABLE ROW LEVEL SECURITY;
ALTER TABLE aisoc_inapp_notifications FORCE ROW LEVEL SECURITY;

DROP POLICY IF EXISTS tenant_isolation ON aisoc_inapp_notifications;
CREATE POLICY tenant_isolation ON aisoc_inapp_notifications
    USING (tenant_id = current_setting('aisoc.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('aisoc.tenant_id', true));
DROP POLICY IF EXISTS retention ON aisoc_inapp_notifications;
CREATE POLICY retention ON aisoc_inapp_notifications TO aisoc_inapp_retention
    USING (true);
