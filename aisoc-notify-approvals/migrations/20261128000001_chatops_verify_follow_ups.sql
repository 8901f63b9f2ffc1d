-- What each chatops.verify prompt asked (the answer page repeats it), and the answer outbox:
-- an answer's follow-ups (its timeline entry, its playbook resume), written in the answer's
-- transaction and delivered by the dispatcher. One row per prompt and kind: a prompt has at
-- most one resume, ever.
ALTER TABLE aisoc_chatops_verify_prompts ADD COLUMN IF NOT EXISTS title TEXT NOT NULL DEFAULT '';
ALTER TABLE aisoc_chatops_verify_prompts ADD COLUMN IF NOT EXISTS message TEXT NOT NULL DEFAULT '';

CREATE TABLE IF NOT EXISTS aisoc_chatops_verify_follow_ups (
    prompt_id        TEXT NOT NULL REFERENCES aisoc_chatops_verify_prompts (prompt_id),
    kind             TEXT NOT NULL CHECK (kind IN ('timeline', 'resume')),
    tenant_id        TEXT NOT NULL,
    case_id          TEXT NOT NULL,
    run_id           TEXT,
    user_ref         TEXT NOT NULL,
    choice           TEXT NOT NULL,
    answered_at      TIMESTAMPTZ NOT NULL,
    state            TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'done', 'dead')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  TIMESTAMPTZ NOT NULL,
    last_error       TEXT,
    updated_at       TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (prompt_id, kind),
    CHECK (kind <> 'resume' OR run_id IS NOT NULL)
);

CREATE INDEX IF NOT EXISTS aisoc_chatops_verify_follow_ups_due_idx
    ON aisoc_chatops_verify_follow_ups (next_attempt_at) WHERE state = 'pending';
