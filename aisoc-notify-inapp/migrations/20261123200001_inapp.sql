-- In-app notifications, per user.
CREATE TABLE IF NOT EXISTS aisoc_inapp_notifications (
    id          BIGSERIAL PRIMARY KEY,
    tenant_id   TEXT NOT NULL,
    user_id     TEXT NOT NULL,
    event_type  TEXT NOT NULL,
    severity    TEXT NOT NULL,
    title       TEXT NOT NULL,
    notification JSONB NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    read_at     TIMESTAMPTZ
);

CREATE INDEX IF NOT EXISTS aisoc_inapp_user_idx ON aisoc_inapp_notifications (tenant_id, user_id, id DESC);
CREATE INDEX IF NOT EXISTS aisoc_inapp_unread_idx ON aisoc_inapp_notifications (tenant_id, user_id) WHERE read_at IS NULL;
CREATE INDEX IF NOT EXISTS aisoc_inapp_created_idx ON aisoc_inapp_notifications (created_at);
