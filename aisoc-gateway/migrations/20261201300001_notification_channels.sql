-- Notification channels shared by every gateway replica on this database. The configuration
-- (URLs with tokens, bot tokens, signing secrets) is stored only sealed with AISOC_DATA_KEY:
-- the CHECK refuses anything else, so a bug cannot write a secret in clear.
CREATE TABLE IF NOT EXISTS aisoc_notification_channels (
    id            TEXT PRIMARY KEY,
    channel_type  TEXT NOT NULL,
    name          TEXT NOT NULL,
    event_types   JSONB NOT NULL DEFAULT '[]'::jsonb,
    enabled       BOOLEAN NOT NULL DEFAULT TRUE,
    config_sealed TEXT NOT NULL CHECK (config_sealed LIKE 'sealed:v1:%'),
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- One row: bumped in the same transaction as every change, so replicas poll one number and
-- reload only when it moved; writers queue on its row lock.
CREATE TABLE IF NOT EXISTS aisoc_notification_channels_revision (
    singleton BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (singleton),
    revision  BIGINT NOT NULL
);

INSERT INTO aisoc_notification_channels_revision (singleton, revision)
VALUES (TRUE, 0)
ON CONFLICT (singleton) DO NOTHING;
