-- Where each chatops.verify prompt was posted (a PromptReceipt as JSON), so its answer can
-- replace the prompt's buttons.
ALTER TABLE aisoc_chatops_verify_prompts ADD COLUMN IF NOT EXISTS receipt JSONB;
