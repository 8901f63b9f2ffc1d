-- Tenant isolation for `chatops.verify` prompts and both follow-up outboxes (issue #15), the
-- rest of what 20261204000001 did for approvals and the audit trail: row-level security keyed
-- on the transaction's `aisoc.tenant_id` setting, FORCEd so that the tables' owner is held to
-- it too, and the same two roles.
--
-- Tenant statements (creating a prompt, reading it for its answer page, answering it and
-- queueing the answer's follow-ups, queueing an approval's resume) run as
-- `aisoc_approvals_tenant`. The follow-up dispatcher claims, completes, retries and replays
-- follow-ups of every tenant, and expiry queues resumes for every tenant: those run as
-- `aisoc_approvals_dispatcher`, whose policies see every follow-up row. The dispatcher gets no
-- grant on the prompts: a verification link names its tenant in its signed claims, so nothing
-- needs to look a prompt up across tenants.
GRANT SELECT, INSERT, UPDATE ON aisoc_chatops_verify_prompts TO aisoc_approvals_tenant;
GRANT INSERT ON aisoc_chatops_verify_follow_ups TO aisoc_approvals_tenant;
GRANT SELECT, INSERT, UPDATE ON aisoc_chatops_verify_follow_ups TO aisoc_approvals_dispatcher;
GRANT SELECT, INSERT, UPDATE ON aisoc_approval_follow_ups TO aisoc_approvals_dispatcher;

ALTER TABLE aisoc_chatops_verify_prompts ENABLE ROW LEVEL SECURITY;
ALTER TABLE aisoc_chatops_verify_prompts FORCE ROW LEVEL SECURITY;
ALTER TABLE aisoc_chatops_verify_follow_ups ENABLE ROW LEVEL SECURITY;
ALTER TABLE aisoc_chatops_verify_follow_ups FORCE ROW LEVEL SECURITY;
ALTER TABLE aisoc_approval_follow_ups ENABLE ROW LEVEL SECURITY;
ALTER TABLE aisoc_approval_follow_ups FORCE ROW LEVEL SECURITY;

DROP POLICY IF EXISTS tenant_isolation ON aisoc_chatops_verify_prompts;
CREATE POLICY tenant_isolation ON aisoc_chatops_verify_prompts
    USING (tenant_id = current_setting('aisoc.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('aisoc.tenant_id', true));

DROP POLICY IF EXISTS tenant_isolation ON aisoc_chatops_verify_follow_ups;
CREATE POLICY tenant_isolation ON aisoc_chatops_verify_follow_ups
    USING (tenant_id = current_setting('aisoc.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('aisoc.tenant_id', true));
DROP POLICY IF EXISTS follow_up_dispatch ON aisoc_chatops_verify_follow_ups;
CREATE POLICY follow_up_dispatch ON aisoc_chatops_verify_follow_ups TO aisoc_approvals_dispatcher
    USING (true) WITH CHECK (true);

DROP POLICY IF EXISTS tenant_isolation ON aisoc_approval_follow_ups;
CREATE POLICY tenant_isolation ON aisoc_approval_follow_ups
    USING (tenant_id = current_setting('aisoc.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('aisoc.tenant_id', true));
DROP POLICY IF EXISTS follow_up_dispatch ON aisoc_approval_follow_ups;
CREATE POLICY follow_up_dispatch ON aisoc_approval_follow_ups TO aisoc_approvals_dispatcher
    USING (true) WITH CHECK (true);
