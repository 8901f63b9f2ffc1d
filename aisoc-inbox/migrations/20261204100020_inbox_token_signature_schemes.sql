-- A token names the signature schemes it accepts (issue #15): a request is verified against
-- those only, so stripping the Standard Webhooks headers from a request signed both ways cannot
-- downgrade it to a timestamp-less scheme. NULL for tokens minted before: every scheme, as then.
ALTER TABLE tenant_inbox_tokens ADD COLUMN IF NOT EXISTS signature_schemes TEXT[];

ALTER TABLE tenant_inbox_tokens DROP CONSTRAINT IF EXISTS tenant_inbox_tokens_signature_schemes_known;
ALTER TABLE tenant_inbox_tokens ADD CONSTRAINT tenant_inbox_tokens_signature_schemes_known CHECK (
    signature_schemes IS NULL
    OR (cardinality(signature_schemes) > 0
        AND signature_schemes <@ ARRAY['standard', 'aisoc', 'github', 'generic', 'pagerduty']::TEXT[])
);
