-- Routing rules (conditions -> channels), kept beside the channels and changed under the same
-- revision row (aisoc_notification_channels_revision), so one revision and one NOTIFY cover
-- both and a replica reloads channels and rules together. Rules hold no secrets: nothing here
-- is sealed. The gateway checks, under the revision row's lock, that every channel a rule
-- names is stored ('console' always exists) and refuses to delete a channel a rule names.
CREATE TABLE IF NOT EXISTS aisoc_notification_rules (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    -- Event type names; empty means every event type.
    event_types  JSONB NOT NULL DEFAULT '[]'::jsonb CHECK (jsonb_typeof(event_types) = 'array'),
    min_severity TEXT CHECK (min_severity IN ('info', 'low', 'medium', 'high', 'critical')),
    -- NULL matches every tenant.
    tenant_id    TEXT,
    -- Tags that must all be on a notification.
    tags         JSONB NOT NULL DEFAULT '[]'::jsonb CHECK (jsonb_typeof(tags) = 'array'),
    -- Channel ids, at least one.
    channels     JSONB NOT NULL
                 CHECK (jsonb_typeof(channels) = 'array' AND jsonb_array_length(channels) > 0),
    enabled      BOOLEAN NOT NULL DEFAULT TRUE,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at   TIMESTAMPTZ NOT NULL DEFAULT now()
);
