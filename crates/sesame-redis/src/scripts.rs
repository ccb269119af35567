//! The Lua scripts: every multi-key change is one server-side step.
//!
//! Records are hashes with the fields `v` (version, decimal), `d` (the encoded record), `e`
//! (`expires_at`, decimal seconds) and `u` (the user id, absent for anonymous sessions), so that
//! the scripts compare versions and maintain the indexes without decoding JSON. TTLs are
//! computed on the server's clock (`TIME`), at least one second and at most 100 years.
//!
//! The same scripts serve sessions and remember-me tokens: the callers pass the key names (or
//! their prefixes) of the family they work on.

use std::sync::LazyLock;

use redis::Script;

/// Functions shared by the scripts.
macro_rules! prelude {
    () => {
        r#"
local function ttl_ms(exp)
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  local ttl = tonumber(exp) * 1000 - now
  if ttl < 1000 then ttl = 1000 end
  if ttl > 3153600000000 then ttl = 3153600000000 end
  return ttl
end

local function expire(key, ttl)
  redis.call('PEXPIRE', key, string.format('%.0f', ttl))
end

-- Extends the TTL of an index key to at least `ttl`, never shortens it.
local function extend(key, ttl)
  local cur = redis.call('PTTL', key)
  if cur == -1 or cur < ttl then expire(key, ttl) end
end

-- Writes a record and indexes it (the caller has unindexed its old user).
local function write(rec, zset, uprefix, id, v, d, has_user, user, exp)
  local ttl = ttl_ms(exp)
  redis.call('DEL', rec)
  if has_user == '1' then
    redis.call('HSET', rec, 'v', v, 'd', d, 'e', exp, 'u', user)
    local set = uprefix .. user
    redis.call('SADD', set, id)
    extend(set, ttl)
  else
    redis.call('HSET', rec, 'v', v, 'd', d, 'e', exp)
  end
  expire(rec, ttl)
  redis.call('ZADD', zset, exp, id)
  extend(zset, ttl)
end

local function is_hash(key)
  return redis.call('TYPE', key).ok == 'hash'
end
"#
    };
}

/// Insert-if-absent. KEYS: record, expiry index. ARGV: user-index prefix, id, version, data,
/// has user ('1'/'0'), user id, expires_at. Returns 1 when written, 0 when the key exists.
pub(crate) static CREATE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(concat!(
        prelude!(),
        r#"
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
write(KEYS[1], KEYS[2], ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7])
return 1
"#
    ))
});

/// Outcome codes of [`UPDATE`].
pub(crate) const MISSING: i64 = 0;
pub(crate) const CONFLICT: i64 = 1;
pub(crate) const SAVED: i64 = 2;
pub(crate) const CORRUPT: i64 = 3;

/// Compare-and-swap. KEYS: record, expiry index. ARGV: user-index prefix, id, expected version,
/// version, data, has user, user id, expires_at. Returns `{0}` missing, `{1, current data}`
/// conflict, `{2}` saved, `{3}` when the key holds something that is not a record.
pub(crate) static UPDATE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(concat!(
        prelude!(),
        r#"
local t = redis.call('TYPE', KEYS[1]).ok
if t == 'none' then return {0} end
if t ~= 'hash' then return {3} end
local cur = redis.call('HMGET', KEYS[1], 'v', 'd', 'u')
if not cur[1] then return {3} end
if cur[1] ~= ARGV[3] then return {1, cur[2] or ''} end
if cur[3] and not (ARGV[6] == '1' and cur[3] == ARGV[7]) then
  redis.call('SREM', ARGV[1] .. cur[3], ARGV[2])
end
write(KEYS[1], KEYS[2], ARGV[1], ARGV[2], ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8])
return {2}
"#
    ))
});

/// Delete and unindex. KEYS: record, expiry index. ARGV: user-index prefix, id.
/// Returns 1 when a key was deleted.
pub(crate) static DELETE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(concat!(
        prelude!(),
        r#"
local u = false
if is_hash(KEYS[1]) then u = redis.call('HGET', KEYS[1], 'u') end
redis.call('ZREM', KEYS[2], ARGV[2])
if redis.call('DEL', KEYS[1]) == 0 then return 0 end
if u then redis.call('SREM', ARGV[1] .. u, ARGV[2]) end
return 1
"#
    ))
});

/// A user's records. KEYS: the user's index set. ARGV: record prefix, user id.
/// Returns `{id, data, id, data, ...}`; members whose record is gone or belongs to someone else
/// are removed from the set.
pub(crate) static LIST: LazyLock<Script> = LazyLock::new(|| {
    Script::new(concat!(
        prelude!(),
        r#"
local out = {}
for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local rec = ARGV[1] .. id
  local kept = false
  if is_hash(rec) then
    local cur = redis.call('HMGET', rec, 'u', 'd')
    if cur[1] == ARGV[2] and cur[2] then
      out[#out + 1] = id
      out[#out + 1] = cur[2]
      kept = true
    end
  end
  if not kept then redis.call('SREM', KEYS[1], id) end
end
return out
"#
    ))
});

/// Deletes a user's records. KEYS: the user's index set, expiry index. ARGV: record prefix,
/// user id, has exception ('1'/'0'), the exception's id. Returns how many records were deleted.
pub(crate) static DELETE_USER: LazyLock<Script> = LazyLock::new(|| {
    Script::new(concat!(
        prelude!(),
        r#"
local n = 0
for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  if not (ARGV[3] == '1' and id == ARGV[4]) then
    local rec = ARGV[1] .. id
    if is_hash(rec) and redis.call('HGET', rec, 'u') == ARGV[2] then
      redis.call('DEL', rec)
      redis.call('ZREM', KEYS[2], id)
      n = n + 1
    end
    redis.call('SREM', KEYS[1], id)
  end
end
return n
"#
    ))
});

/// One batch of purging. KEYS: expiry index. ARGV: record prefix, user-index prefix, now,
/// batch size. Returns `{deleted, scanned}`: every scanned entry is removed from the index (or
/// re-scored to its record's later expiry), so repeating until `scanned < batch` terminates.
pub(crate) static PURGE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(concat!(
        prelude!(),
        r#"
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[3], 'LIMIT', 0, ARGV[4])
local now = tonumber(ARGV[3])
local n = 0
for _, id in ipairs(ids) do
  local rec = ARGV[1] .. id
  local e = nil
  local cur = nil
  if is_hash(rec) then
    cur = redis.call('HMGET', rec, 'e', 'u')
    e = tonumber(cur[1])
  end
  if e and e > now then
    redis.call('ZADD', KEYS[1], cur[1], id)
  else
    if e then
      redis.call('DEL', rec)
      if cur[2] then redis.call('SREM', ARGV[2] .. cur[2], id) end
      n = n + 1
    end
    redis.call('ZREM', KEYS[1], id)
  end
end
return {n, #ids}
"#
    ))
});
