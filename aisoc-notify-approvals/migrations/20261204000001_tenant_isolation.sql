-- Tenant isolation for approvals and the audit trail (issue #15): row-level security keyed on
-- the transaction's `aisoc.tenant_id` setting, as for the inbox tokens, and FORCEd so that the
-- tables' owner is held to it too. Tenant statements run as `aisoc_approvals_tenant` (the store
-- switches to it with SET LOCAL ROLE, so even a superuser connection is isolated).
--
-- The one deliberate bypass is `aisoc_approvals_dispatcher`: expiring due requests across
-- every tenant (the follow-up dispatcher's claim) and resolving the tenant of an approval id a
-- chat button carries. Its policy sees every row; only those two store paths switch to it.
DO $$
BEGIN
    CREATE ROLE aisoc_approvals_tenant NOLOGIN;
EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
END
$$;
DO $$
BEGIN
    CREATE ROLE aisoc_approvals_dispatcher NOLOGIN;
EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
END
$$;

-- The connecting role switches to both (a role's creator may already be a member).
DO $$
BEGIN
    EXECUTE format('GRANT aisoc_approvals_tenant, aisoc_approvals_dispatcher TO %I', current_user);
EXCEPTION WHEN duplicate_object OR invalid_grant_operation THEN NULL;
END
$$;

GRANT SELECT, INSERT, UPDATE ON aisoc_approvals TO aisoc_approvals_tenant;
GRANT SELECT, INSERT ON aisoc_audit_log TO aisoc_approvals_tenant;
GRANT USAGE ON SEQUENCE aisoc_audit_log_id_seq TO aisoc_approvals_tenant;
GRANT INSERT ON aisoc_approval_follow_ups TO aisoc_approvals_tenant;
GRANT SELECT, UPDATE ON aisoc_approvals TO aisoc_approvals_dispatcher;
GRANT INSERT ON aisoc_approval_follow_ups TO aisoc_approvals_dispatcher;

ALTER TABLE aisoc_approvals ENABLE ROW LEVEL SECURITY;
ALTER TABLE aisoc_approvals FORCE ROW LEVEL SECURITY;
ALTER TABLE aisoc_audit_log ENABLE ROW LEVEL SECURITY;
ALTER TABLE aisoc_audit_log FORCE ROW LEVEL SECURITY;

DROP POLICY IF EXISTS tenant_isolation ON aisoc_approvals;
CREATE POLICY tenant_isolation ON aisoc_approvals
    USING (tenant_id = current_setting('aisoc.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('aisoc.tenant_id', true));
DROP POLICY IF EXISTS follow_up_dispatch ON aisoc_approvals;
CREATE POLICY follow_up_dispatch ON aisoc_approvals TO aisoc_approvals_dispatcher
    USING (true) WITH CHECK (true);

DROP POLICY IF EXISTS tenant_isolation ON aisoc_audit_log;
CREATE POLICY tenant_isolation ON aisoc_audit_log
    USING (tenant_id = current_setting('aisoc.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('aisoc.tenant_id', true));

-- The audit trigger function: a fixed search_path, pg_temp last, and nobody calls it directly.
ALTER FUNCTION aisoc_audit_log_append_only() SET search_path = pg_catalog, public, pg_temp;
REVOKE EXECUTE ON FUNCTION aisoc_audit_log_append_only() FROM PUBLIC;
