-- Claim latency (queued -> claimed) and start latency (claimed -> started) of the runs
-- claimed since :since: how many, their average and their worst.
SELECT
  COUNT(claimed_at) AS claim_n, AVG(claimed_at - queued_at) AS claim_avg, MAX(claimed_at - queued_at) AS claim_max,
  COUNT(started_at) AS start_n, AVG(started_at - claimed_at) AS start_avg, MAX(started_at - claimed_at) AS start_max
FROM runs
WHERE claimed_at IS NOT NULL AND claimed_at >= :since
