-- The claim pick (sql/postgres/claim.sql) must walk the ordered partial indexes runs_claimable and
-- runs_claimable_channel, which stop at the first free run. While runs_status also held queued rows,
-- a planner whose statistics say almost nothing is queued (a long finished history, analyzed while
-- the queue was empty) chose it instead and sorted every queued run on each claim: 9.6 ms per pick
-- at 3,000 queued behind 1,000,000 finished runs, against 0.05 ms through runs_claimable.
-- Every query on queued runs is served by those partial indexes or runs_deadline, so runs_status
-- keeps only the other states. (SQLite's planner cannot prove status IN (...) implies
-- status <> 'queued', and it does not make the bad choice: its runs_status stays.)
DROP INDEX runs_status;
CREATE INDEX runs_status_not_queued ON runs (status) WHERE status <> 'queued';
