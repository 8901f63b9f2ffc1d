-- Tenant isolation hardening for inbox tokens (issue #15): row-level security is FORCEd, so the
-- table's owner is held to the tenant policy too, and the one function that resolves a token
-- before its tenant is known is narrowed:
--   * it runs as `aisoc_inbox_resolver`, a NOLOGIN role whose only policy reads rows (the
--     deliberate, documented bypass), not as the table owner;
--   * its search_path is fixed with pg_temp last, so no temporary object can shadow a table;
--   * PUBLIC may not execute it; the connecting role (which runs the migration) may.
DO $$
BEGIN
    CREATE ROLE aisoc_inbox_resolver NOLOGIN;
EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
END
$$;
DO $$
BEGIN
    EXECUTE format('GRANT aisoc_inbox_resolver TO %I', current_user);
EXCEPTION WHEN duplicate_object OR invalid_grant_operation THEN NULL;
END
$$;
GRANT SELECT ON tenant_inbox_tokens TO aisoc_inbox_resolver;
GRANT USAGE ON SCHEMA public TO aisoc_inbox_resolver;

ALTER TABLE tenant_inbox_tokens FORCE ROW LEVEL SECURITY;

DROP POLICY IF EXISTS token_resolution ON tenant_inbox_tokens;
CREATE POLICY token_resolution ON tenant_inbox_tokens FOR SELECT TO aisoc_inbox_resolver
    USING (true);

ALTER FUNCTION aisoc_resolve_inbox_token(TEXT) SET search_path = pg_catalog, public, pg_temp;
ALTER FUNCTION aisoc_resolve_inbox_token(TEXT) OWNER TO aisoc_inbox_resolver;
REVOKE EXECUTE ON FUNCTION aisoc_resolve_inbox_token(TEXT) FROM PUBLIC;
DO $$
BEGIN
    EXECUTE format('GRANT EXECUTE ON FUNCTION aisoc_resolve_inbox_token(TEXT) TO %I', current_user);
END
$$;
