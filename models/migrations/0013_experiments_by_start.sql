-- Charts mark the experiments that ran in the span they show: found by start time along this index,
-- so a month's chart reads the month's experiments, not every experiment ever run.
CREATE INDEX experiments_by_start ON experiments (started_at);
