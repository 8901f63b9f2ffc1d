-- Approvals a playbook run waits on, and their follow-up outbox: a decision (or an expiry)
-- writes the resume of the waiting run in its own transaction, and the dispatcher delivers
-- it. One row per approval and kind: an approval has at most one resume, ever.
ALTER TABLE aisoc_approvals ADD COLUMN IF NOT EXISTS run_id TEXT;
ALTER TABLE aisoc_approvals ADD COLUMN IF NOT EXISTS case_id TEXT;

-- Expiry looks for pending requests past their deadline on every dispatcher pass.
CREATE INDEX IF NOT EXISTS aisoc_approvals_pending_expiry_idx
    ON aisoc_approvals (expires_at) WHERE status = 'pending';

CREATE TABLE IF NOT EXISTS aisoc_approval_follow_ups (
    approval_id      TEXT NOT NULL REFERENCES aisoc_approvals (id),
    kind             TEXT NOT NULL CHECK (kind IN ('resume')),
    tenant_id        TEXT NOT NULL,
    case_id          TEXT,
    run_id           TEXT NOT NULL,
    reviewer         TEXT NOT NULL,
    branch           TEXT NOT NULL,
    decided_at       TIMESTAMPTZ NOT NULL,
    state            TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'done', 'dead')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  TIMESTAMPTZ NOT NULL,
    last_error       TEXT,
    updated_at       TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (approval_id, kind)
);

CREATE INDEX IF NOT EXISTS aisoc_approval_follow_ups_due_idx
    ON aisoc_approval_follow_ups (next_attempt_at) WHERE state = 'pending';

-- Operators list follow-ups by state, the most recently changed first (dead ones above all).
CREATE INDEX IF NOT EXISTS aisoc_approval_follow_ups_state_idx
    ON aisoc_approval_follow_ups (state, updated_at DESC);
CREATE INDEX IF NOT EXISTS aisoc_chatops_verify_follow_ups_state_idx
    ON aisoc_chatops_verify_follow_ups (state, updated_at DESC);
