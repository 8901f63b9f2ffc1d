-- Inbox tokens: only fingerprints are stored. Row-level security by tenant_id applies to the
-- tenant-scoped role the store switches to for tenant operations; resolving a token by its
-- fingerprint goes through one narrow SECURITY DEFINER function.
CREATE TABLE IF NOT EXISTS tenant_inbox_tokens (
    id              TEXT PRIMARY KEY,
    tenant_id       TEXT NOT NULL,
    template_id     TEXT NOT NULL,
    fingerprint     TEXT NOT NULL UNIQUE CHECK (fingerprint ~ '^[0-9a-f]{64}$'),
    signing_secret  TEXT,
    created_at      TIMESTAMPTZ NOT NULL,
    revoked_at      TIMESTAMPTZ
);

CREATE INDEX IF NOT EXISTS tenant_inbox_tokens_tenant_idx ON tenant_inbox_tokens (tenant_id, created_at DESC);

ALTER TABLE tenant_inbox_tokens ENABLE ROW LEVEL SECURITY;

DROP POLICY IF EXISTS tenant_isolation ON tenant_inbox_tokens;
CREATE POLICY tenant_isolation ON tenant_inbox_tokens
    USING (tenant_id = current_setting('aisoc.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('aisoc.tenant_id', true));

-- The role tenant-scoped statements run as (roles are cluster-wide, so tolerate a concurrent
-- creation by another database's migration).
DO $$
BEGIN
    CREATE ROLE aisoc_inbox_tenant NOLOGIN;
EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
END
$$;

GRANT SELECT, INSERT, UPDATE ON tenant_inbox_tokens TO aisoc_inbox_tenant;

CREATE OR REPLACE FUNCTION aisoc_resolve_inbox_token(p_fingerprint TEXT)
RETURNS SETOF tenant_inbox_tokens
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
    SELECT * FROM tenant_inbox_tokens WHERE fingerprint = p_fingerprint AND revoked_at IS NULL
$$;
