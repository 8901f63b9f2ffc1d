-- chatops.verify prompts; answered_choice is set once per prompt.
CREATE TABLE IF NOT EXISTS aisoc_chatops_verify_prompts (
    prompt_id        TEXT PRIMARY KEY,
    tenant_id        TEXT NOT NULL,
    case_id          TEXT NOT NULL,
    run_id           TEXT,
    user_ref         TEXT NOT NULL,
    created_at       TIMESTAMPTZ NOT NULL,
    expires_at       TIMESTAMPTZ NOT NULL,
    answered_choice  TEXT,
    answered_token   TEXT,
    answered_at      TIMESTAMPTZ
);
