-- The operators' dashboard at a hundred events: events gather in named groups ("Reactor", "Utilities"),
-- and each user's choices (which events are charted, which overlaid) follow them to any browser.
ALTER TABLE events ADD COLUMN group_name text CHECK (length(group_name) BETWEEN 1 AND 100);
ALTER TABLE users ADD COLUMN preferences jsonb NOT NULL DEFAULT '{}';
