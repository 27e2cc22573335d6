-- Users managed from the browser: a password set by an admin (a one-time one) must be changed at the
-- first sign-in, and a reset, a role change or a new password ends the user's sessions: tokens issued
-- before `sessions_valid_after` are refused.
ALTER TABLE users ADD COLUMN must_change_password boolean NOT NULL DEFAULT false,
                  ADD COLUMN sessions_valid_after timestamptz;
