-- Approval cards (issue #16): where each approval request was posted, with the transport's
-- receipt (a channel and message id, never a credential), so the cards can be replaced with
-- the outcome once the request is decided or expires. One row per (tenant, approval, channel).
CREATE TABLE IF NOT EXISTS aisoc_approval_cards (
    tenant_id    TEXT NOT NULL,
    approval_id  TEXT NOT NULL,
    channel_id   TEXT NOT NULL,
    channel_type TEXT NOT NULL,
    receipt      JSONB,
    state        TEXT NOT NULL CHECK (state IN ('posted', 'updated', 'unsupported', 'failed')),
    reason       TEXT,
    updated_at   TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, approval_id, channel_id)
);

-- The reconciler's scan: cards still showing live buttons.
CREATE INDEX IF NOT EXISTS aisoc_approval_cards_posted_idx
    ON aisoc_approval_cards (tenant_id, approval_id, channel_id) WHERE state = 'posted';

-- Tenant isolation as for the other tenant tables: forced row-level security on the
-- transaction's `aisoc.tenant_id`, the API's statements run as `aisoc_approval_cards_tenant`.
-- The reconciler, which looks for `posted` cards of every tenant, runs as
-- `aisoc_approval_cards_reconciler`, which may only read; it updates a card as its tenant.
DO $$
BEGIN
    CREATE ROLE aisoc_approval_cards_tenant NOLOGIN;
EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
END
$$;
DO $$
BEGIN
    CREATE ROLE aisoc_approval_cards_reconciler NOLOGIN;
EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
END
$$;
DO $$
BEGIN
    EXECUTE format('GRANT aisoc_approval_cards_tenant, aisoc_approval_cards_reconciler TO %I', current_user);
EXCEPTION WHEN duplicate_object OR invalid_grant_operation THEN NULL;
END
$$;

GRANT SELECT, INSERT, UPDATE ON aisoc_approval_cards TO aisoc_approval_cards_tenant;
GRANT SELECT ON aisoc_approval_cards TO aisoc_approval_cards_reconciler;

ALTER TABLE aisoc_approval_cards ENABLE ROW LEVEL SECURITY;
ALTER TABLE aisoc_approval_cards FORCE ROW LEVEL SECURITY;

DROP POLICY IF EXISTS tenant_isolation ON aisoc_approval_cards;
CREATE POLICY tenant_isolation ON aisoc_approval_cards
    USING (tenant_id = current_setting('aisoc.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('aisoc.tenant_id', true));
DROP POLICY IF EXISTS approval_cards_reconciler ON aisoc_approval_cards;
CREATE POLICY approval_cards_reconciler ON aisoc_approval_cards FOR SELECT
    TO aisoc_approval_cards_reconciler USING (true);
