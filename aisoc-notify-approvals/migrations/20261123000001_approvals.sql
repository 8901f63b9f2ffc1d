-- Approval requests and the append-only audit trail.
CREATE TABLE IF NOT EXISTS aisoc_approvals (
    id               TEXT PRIMARY KEY,
    tenant_id        TEXT NOT NULL,
    summary          TEXT NOT NULL,
    risk_score       SMALLINT CHECK (risk_score BETWEEN 0 AND 100),
    requested_action TEXT NOT NULL,
    status           TEXT NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'approved', 'denied', 'expired')),
    reviewer         TEXT,
    source           TEXT CHECK (source IN ('slack', 'teams', 'api')),
    notes            TEXT,
    created_at       TIMESTAMPTZ NOT NULL,
    expires_at       TIMESTAMPTZ NOT NULL,
    reviewed_at      TIMESTAMPTZ
);

CREATE INDEX IF NOT EXISTS aisoc_approvals_tenant_idx ON aisoc_approvals (tenant_id, created_at DESC);

CREATE TABLE IF NOT EXISTS aisoc_audit_log (
    id          BIGSERIAL PRIMARY KEY,
    tenant_id   TEXT NOT NULL,
    action      TEXT NOT NULL,
    subject_id  TEXT NOT NULL,
    actor       TEXT NOT NULL,
    details     JSONB NOT NULL DEFAULT '{}'::jsonb,
    created_at  TIMESTAMPTZ NOT NULL
);

CREATE INDEX IF NOT EXISTS aisoc_audit_log_tenant_idx ON aisoc_audit_log (tenant_id, subject_id, id);

-- Audit rows are append-only: updates and deletes are refused by the database itself.
CREATE OR REPLACE FUNCTION aisoc_audit_log_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'aisoc_audit_log is append-only';
END;
$$ LANGUAGE plpgsql;

DROP TRIGGER IF EXISTS aisoc_audit_log_no_change ON aisoc_audit_log;
CREATE TRIGGER aisoc_audit_log_no_change
    BEFORE UPDATE OR DELETE ON aisoc_audit_log
    FOR EACH ROW EXECUTE FUNCTION aisoc_audit_log_append_only();
