-- Experiments by start time: the list pages newest first along it, and charts find the experiments that ran
-- in the span they show, reading that span's experiments rather than every experiment ever run.
CREATE INDEX experiments_by_start ON experiments (started_at, id);
