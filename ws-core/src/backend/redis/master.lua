-- Included by history.rs's scripts, which name their arguments CLUSTER
-- and TTL. On a cluster (ARGV[CLUSTER] set): a history written by another master
-- than this one (a failover, a moved slot) may lack what that master
-- acknowledged last; it ends here.
if ARGV[CLUSTER] ~= '' then
  local id = string.match(redis.call('INFO', 'replication'), 'master_replid:(%w+)')
  if redis.call('GET', KEYS[4]) ~= id then
    redis.call('DEL', KEYS[1])
    local ttl = tonumber(ARGV[TTL])
    if ttl > 0 then
      redis.call('SET', KEYS[4], id, 'PX', ttl)
    else
      redis.call('SET', KEYS[4], id)
    end
  end
end
