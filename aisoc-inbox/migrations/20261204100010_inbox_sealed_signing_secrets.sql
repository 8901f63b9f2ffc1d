-- Inbox signing secrets are stored sealed: `sealed:v1:<key id>:<nonce>:<ciphertext>`, AES-256-GCM
-- under the data key in AISOC_DATA_KEY, bound to the token id (see aisoc_notify_core::sealed and
-- aisoc_inbox::postgres). Rows written in clear before this version are sealed again by the
-- store on first read; from now on nothing may write a secret in clear, so a replica of an older
-- version (or a hand-written INSERT) cannot add one. The trigger fires only when
-- signing_secret is written, so revoking a legacy row still works before it is resealed.
COMMENT ON COLUMN tenant_inbox_tokens.signing_secret IS
    'sealed:v1:<key id>:<nonce>:<ciphertext> under AISOC_DATA_KEY, bound to inbox-token:<id>; never plaintext';

CREATE OR REPLACE FUNCTION aisoc_inbox_tokens_refuse_plaintext_secret()
RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF NEW.signing_secret IS NOT NULL AND NEW.signing_secret NOT LIKE 'sealed:v1:%' THEN
        -- The message never quotes the value.
        RAISE EXCEPTION 'tenant_inbox_tokens.signing_secret must be sealed (set AISOC_DATA_KEY)'
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END
$$;

REVOKE EXECUTE ON FUNCTION aisoc_inbox_tokens_refuse_plaintext_secret() FROM PUBLIC;

DROP TRIGGER IF EXISTS tenant_inbox_tokens_sealed_secret ON tenant_inbox_tokens;
CREATE TRIGGER tenant_inbox_tokens_sealed_secret
    BEFORE INSERT OR UPDATE OF signing_secret ON tenant_inbox_tokens
    FOR EACH ROW EXECUTE FUNCTION aisoc_inbox_tokens_refuse_plaintext_secret();
