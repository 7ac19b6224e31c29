-- The dashboard's queues and agents views read the runs claimed in the last hour: their
-- channel, queued time and claimer. Make the claimed_at index cover those columns, so the
-- views read only the index. All of them are set by the claim that sets claimed_at, so a
-- claim still updates one entry in this index, as before.
DROP INDEX runs_claimed_at;
CREATE INDEX runs_claimed_at ON runs (claimed_at, network_channel, queued_at, claimed_by_kind, claimed_by_ref)
    WHERE claimed_at IS NOT NULL;
