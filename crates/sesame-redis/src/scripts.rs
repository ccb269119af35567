//! The Lua scripts: every multi-key change is one server-side step.
//!
//! Records are hashes with the fields `v` (version, decimal), `d` (the encoded record), `e`
//! (`expires_at`, decimal seconds), `l` (`last_seen`, sessions only) and `u` (the user id,
//! absent for anonymous sessions), so that the scripts compare versions, touch sessions and
//! maintain the indexes without decoding JSON. A touch raises `e` and `l` and nothing else:
//! readers overlay them on the decoded record (the later of the two values wins). TTLs are
//! computed on the server's clock (`TIME`), at least one second and at most 100 years.
//!
//! A user's index (`ui:{user}`, `rui:{user}`) is a sorted set of the user's record ids scored
//! by their `expires_at`, with no TTL, so that no `volatile-*` eviction policy can drop it
//! while its records live (SECURITY.md 43). Members are removed with their record; members
//! whose record Redis expired or evicted are removed by the next write to that user's index,
//! by listings and by purges. The users' index-expiry set (`uix`, `ruix`, no TTL either)
//! scores every user that has an index by the latest expiry in it, so that purging reclaims the
//! indexes of users who never come back.
//!
//! The same scripts serve sessions and remember-me tokens: the callers pass the key names (or
//! their prefixes) of the family they work on.

use std::sync::LazyLock;

use redis::Script;

/// Functions shared by the scripts.
macro_rules! prelude {
    () => {
        r#"
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function ttl_ms(exp)
  local ttl = tonumber(exp) * 1000 - now_ms()
  if ttl < 1000 then ttl = 1000 end
  if ttl > 3153600000000 then ttl = 3153600000000 end
  return ttl
end

local function expire(key, ttl)
  redis.call('PEXPIRE', key, string.format('%.0f', ttl))
end

-- Extends the TTL of the expiry index to at least `ttl`, never shortens it.
local function extend(key, ttl)
  local cur = redis.call('PTTL', key)
  if cur == -1 or cur < ttl then expire(key, ttl) end
end

local function is_hash(key)
  return redis.call('TYPE', key).ok == 'hash'
end

-- Removes from a user's index the members scored at or before `upto` whose record is gone or
-- belongs to someone else, and re-scores those whose record lives longer; at most `limit` of
-- them when `limit` is set. With `purge`, also deletes the user's records whose stored expiry
-- is at or before `upto` (and their expiry-index entries). Returns the number of records
-- deleted.
local function tidy(uidx, zset, rprefix, user, upto, purge, limit)
  local n = 0
  local ids
  if limit then
    ids = redis.call('ZRANGEBYSCORE', uidx, '-inf', upto, 'LIMIT', 0, limit)
  else
    ids = redis.call('ZRANGEBYSCORE', uidx, '-inf', upto)
  end
  for _, id in ipairs(ids) do
    local rec = rprefix .. id
    local keep = false
    if is_hash(rec) then
      local cur = redis.call('HMGET', rec, 'u', 'e')
      if cur[1] == user then
        local e = tonumber(cur[2])
        if e and e > tonumber(upto) then
          redis.call('ZADD', uidx, cur[2], id)
          keep = true
        elseif purge then
          redis.call('DEL', rec)
          redis.call('ZREM', zset, id)
          n = n + 1
        else
          keep = true
        end
      end
    end
    if not keep then redis.call('ZREM', uidx, id) end
  end
  return n
end

-- Scores `user` in the users' index-expiry set by the latest expiry in the user's index, or
-- removes it when the index is empty (Redis deletes empty sorted sets).
local function rescore_user(uidx, uix, user)
  local top = redis.call('ZRANGE', uidx, -1, -1, 'WITHSCORES')
  if top[2] then
    redis.call('ZADD', uix, top[2], user)
  else
    redis.call('ZREM', uix, user)
  end
end

-- Files `id` in `user`'s index with expiry `exp`, drops up to 8 of the index's dangling
-- members (each write adds at most one, so dangling members do not pile up; the bound keeps a
-- write cheap when many members expired but Redis has not dropped their records yet), and
-- keeps the users' index-expiry set up to date. The index never gets a TTL.
local function index(uprefix, uix, zset, rprefix, user, id, exp)
  local uidx = uprefix .. user
  redis.call('ZADD', uidx, exp, id)
  tidy(uidx, zset, rprefix, user, math.floor(now_ms() / 1000), false, 8)
  rescore_user(uidx, uix, user)
end

-- Removes `id` from `user`'s index.
local function unindex(uprefix, uix, user, id)
  local uidx = uprefix .. user
  redis.call('ZREM', uidx, id)
  if redis.call('EXISTS', uidx) == 0 then redis.call('ZREM', uix, user) end
end

-- Writes a record and indexes it (the caller has unindexed its old user). `seen` is the
-- record's last_seen, or '' for a family without one.
local function write(rec, zset, uix, uprefix, rprefix, id, v, d, has_user, user, exp, seen)
  local ttl = ttl_ms(exp)
  redis.call('DEL', rec)
  redis.call('HSET', rec, 'v', v, 'd', d, 'e', exp)
  if seen ~= '' then redis.call('HSET', rec, 'l', seen) end
  if has_user == '1' then
    redis.call('HSET', rec, 'u', user)
    index(uprefix, uix, zset, rprefix, user, id, exp)
  end
  expire(rec, ttl)
  redis.call('ZADD', zset, exp, id)
  extend(zset, ttl)
end
"#
    };
}

/// Insert-if-absent. KEYS: record, expiry index, users' index-expiry set. ARGV: user-index
/// prefix, record prefix, id, version, data, has user ('1'/'0'), user id, expires_at, last_seen
/// (or ''). Returns 1 when written, 0 when the key exists.
pub(crate) static CREATE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(concat!(
        prelude!(),
        r#"
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
write(KEYS[1], KEYS[2], KEYS[3], ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7],
  ARGV[8], ARGV[9])
return 1
"#
    ))
});

/// Outcome codes of [`UPDATE`] and [`DELETE_VERSION`] (and, for `MISSING`, `SAVED` and
/// `CORRUPT`, of [`TOUCH`]).
pub(crate) const MISSING: i64 = 0;
pub(crate) const CONFLICT: i64 = 1;
pub(crate) const SAVED: i64 = 2;
pub(crate) const CORRUPT: i64 = 3;

/// Compare-and-swap. KEYS: record, expiry index, users' index-expiry set. ARGV: user-index
/// prefix, record prefix, id, expected version, version, data, has user, user id, expires_at,
/// last_seen (or ''). Returns `{0}` missing, `{1, data, e, l}` conflict (the current record's
/// fields, '' when absent), `{2}` saved, `{3}` when the key holds something that is not a
/// record.
pub(crate) static UPDATE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(concat!(
        prelude!(),
        r#"
local t = redis.call('TYPE', KEYS[1]).ok
if t == 'none' then return {0} end
if t ~= 'hash' then return {3} end
local cur = redis.call('HMGET', KEYS[1], 'v', 'd', 'u', 'e', 'l')
if not cur[1] then return {3} end
if cur[1] ~= ARGV[4] then return {1, cur[2] or '', cur[4] or '', cur[5] or ''} end
if cur[3] and not (ARGV[7] == '1' and cur[3] == ARGV[8]) then
  unindex(ARGV[1], KEYS[3], cur[3], ARGV[3])
end
write(KEYS[1], KEYS[2], KEYS[3], ARGV[1], ARGV[2], ARGV[3], ARGV[5], ARGV[6], ARGV[7], ARGV[8],
  ARGV[9], ARGV[10])
return {2}
"#
    ))
});

/// Delete and unindex. KEYS: record, expiry index, users' index-expiry set. ARGV: user-index
/// prefix, id. Returns 1 when a key was deleted.
pub(crate) static DELETE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(concat!(
        prelude!(),
        r#"
local u = false
if is_hash(KEYS[1]) then u = redis.call('HGET', KEYS[1], 'u') end
redis.call('ZREM', KEYS[2], ARGV[2])
if redis.call('DEL', KEYS[1]) == 0 then return 0 end
if u then unindex(ARGV[1], KEYS[3], u, ARGV[2]) end
return 1
"#
    ))
});

/// Compare-and-delete. KEYS: record, expiry index, users' index-expiry set. ARGV: user-index
/// prefix, id, expected version. Replies as [`UPDATE`]: `{2}` when deleted.
pub(crate) static DELETE_VERSION: LazyLock<Script> = LazyLock::new(|| {
    Script::new(concat!(
        prelude!(),
        r#"
local t = redis.call('TYPE', KEYS[1]).ok
if t == 'none' then return {0} end
if t ~= 'hash' then return {3} end
local cur = redis.call('HMGET', KEYS[1], 'v', 'd', 'u', 'e', 'l')
if not cur[1] then return {3} end
if cur[1] ~= ARGV[3] then return {1, cur[2] or '', cur[4] or '', cur[5] or ''} end
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[2])
if cur[3] then unindex(ARGV[1], KEYS[3], cur[3], ARGV[2]) end
return {2}
"#
    ))
});

/// TTL-only touch: raises the record's `l` and `e` fields (never lowers them), its TTL, its
/// expiry-index score and its user-index score; leaves `v` and `d` alone. KEYS: record, expiry
/// index, users' index-expiry set. ARGV: user-index prefix, record prefix, id, last_seen,
/// expires_at. Returns 0 when there is no record, 2 when touched, 3 when the key holds
/// something that is not a record.
pub(crate) static TOUCH: LazyLock<Script> = LazyLock::new(|| {
    Script::new(concat!(
        prelude!(),
        r#"
local t = redis.call('TYPE', KEYS[1]).ok
if t == 'none' then return 0 end
if t ~= 'hash' then return 3 end
local cur = redis.call('HMGET', KEYS[1], 'v', 'e', 'l', 'u')
local e = tonumber(cur[2])
if not cur[1] or not e then return 3 end
local l = tonumber(cur[3])
if not l or tonumber(ARGV[4]) > l then redis.call('HSET', KEYS[1], 'l', ARGV[4]) end
if tonumber(ARGV[5]) > e then
  local ttl = ttl_ms(ARGV[5])
  redis.call('HSET', KEYS[1], 'e', ARGV[5])
  expire(KEYS[1], ttl)
  redis.call('ZADD', KEYS[2], ARGV[5], ARGV[3])
  extend(KEYS[2], ttl)
  if cur[4] then index(ARGV[1], KEYS[3], KEYS[2], ARGV[2], cur[4], ARGV[3], ARGV[5]) end
end
return 2
"#
    ))
});

/// A user's records. KEYS: the user's index, users' index-expiry set. ARGV: record prefix,
/// user id. Returns `{id, data, e, l, id, data, e, l, ...}` ('' for an absent field); members
/// whose record is gone or belongs to someone else are removed from the index.
pub(crate) static LIST: LazyLock<Script> = LazyLock::new(|| {
    Script::new(concat!(
        prelude!(),
        r#"
local out = {}
local dropped = false
for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local rec = ARGV[1] .. id
  local kept = false
  if is_hash(rec) then
    local cur = redis.call('HMGET', rec, 'u', 'd', 'e', 'l')
    if cur[1] == ARGV[2] and cur[2] then
      out[#out + 1] = id
      out[#out + 1] = cur[2]
      out[#out + 1] = cur[3] or ''
      out[#out + 1] = cur[4] or ''
      kept = true
    end
  end
  if not kept then
    redis.call('ZREM', KEYS[1], id)
    dropped = true
  end
end
if dropped then rescore_user(KEYS[1], KEYS[2], ARGV[2]) end
return out
"#
    ))
});

/// Deletes a user's records. KEYS: the user's index, expiry index, users' index-expiry set.
/// ARGV: record prefix, user id, has exception ('1'/'0'), the exception's id. Returns how many
/// records were deleted.
pub(crate) static DELETE_USER: LazyLock<Script> = LazyLock::new(|| {
    Script::new(concat!(
        prelude!(),
        r#"
local n = 0
for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  if not (ARGV[3] == '1' and id == ARGV[4]) then
    local rec = ARGV[1] .. id
    if is_hash(rec) and redis.call('HGET', rec, 'u') == ARGV[2] then
      redis.call('DEL', rec)
      redis.call('ZREM', KEYS[2], id)
      n = n + 1
    end
    redis.call('ZREM', KEYS[1], id)
  end
end
rescore_user(KEYS[1], KEYS[3], ARGV[2])
return n
"#
    ))
});

/// One batch of purging records. KEYS: expiry index, users' index-expiry set. ARGV: record
/// prefix, user-index prefix, now, batch size. Returns `{deleted, scanned}`: every scanned
/// entry is removed from the index (or re-scored to its record's later expiry), so repeating
/// until `scanned < batch` terminates.
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
      if cur[2] then unindex(ARGV[2], KEYS[2], cur[2], id) end
      n = n + 1
    end
    redis.call('ZREM', KEYS[1], id)
  end
end
return {n, #ids}
"#
    ))
});

/// One batch of purging user indexes: for each user whose latest indexed expiry is at or
/// before `now`, drops the index's dangling members and deletes its expired records, then
/// re-scores the user or forgets it. KEYS: users' index-expiry set, expiry index. ARGV: record
/// prefix, user-index prefix, now, batch size. Returns `{deleted, scanned}`; every scanned user
/// is removed or re-scored after `now`, so repeating until `scanned < batch` terminates.
pub(crate) static PURGE_USERS: LazyLock<Script> = LazyLock::new(|| {
    Script::new(concat!(
        prelude!(),
        r#"
local users = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[3], 'LIMIT', 0, ARGV[4])
local n = 0
for _, user in ipairs(users) do
  local uidx = ARGV[2] .. user
  n = n + tidy(uidx, KEYS[2], ARGV[1], user, ARGV[3], true, false)
  rescore_user(uidx, KEYS[1], user)
end
return {n, #users}
"#
    ))
});

/// Compare-and-swap of a throttle record (a hash: `v` version, `d` data). KEYS: the record.
/// ARGV: expected version ('0': insert if absent), version, data, expires_at. Returns 1 when
/// written, 0 when the stored version differs, 3 when the key holds something that is not a
/// throttle record. The TTL runs to `expires_at` on the server's clock; an `expires_at` already
/// past deletes the key at once (the write happened, and expired).
pub(crate) static SAVE_THROTTLE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(concat!(
        prelude!(),
        r#"
local t = redis.call('TYPE', KEYS[1]).ok
local cur = '0'
if t == 'hash' then
  cur = redis.call('HGET', KEYS[1], 'v')
  if not cur then return 3 end
elseif t ~= 'none' then
  return 3
end
if cur ~= ARGV[1] then return 0 end
local ttl = tonumber(ARGV[4]) * 1000 - now_ms()
if ttl <= 0 then
  redis.call('DEL', KEYS[1])
  return 1
end
if ttl > 3153600000000 then ttl = 3153600000000 end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'v', ARGV[2], 'd', ARGV[3])
expire(KEYS[1], ttl)
return 1
"#
    ))
});

// ---------------------------------------------------------------------------------------------
// Redis Cluster only: the "home" key of a session or remember-me token, in its bucket's slot
// (`{prefix}{a:<bucket>}:s:<id>`), holds either an anonymous session's record (as above) or a
// pointer to the user whose slot holds the record: a hash with the single field `h`, the user
// id, and a TTL at least the record's. The registry (`{prefix}{reg}:users`) scores users by
// the earliest expiry in their slot, for purging.

/// Claims a home key for a user's record (insert-if-absent). KEYS: the home key. ARGV: user
/// id, expires_at. Returns 1 when claimed, 0 when the key exists.
pub(crate) static HOME_CLAIM: LazyLock<Script> = LazyLock::new(|| {
    Script::new(concat!(
        prelude!(),
        r#"
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'h', ARGV[1])
expire(KEYS[1], ttl_ms(ARGV[2]))
return 1
"#
    ))
});

/// Raises a pointer's TTL to `expires_at` (never lowers it) when it still points at `user`.
/// KEYS: the home key. ARGV: user id, expires_at. Returns 1 when it points at the user.
pub(crate) static HOME_EXTEND: LazyLock<Script> = LazyLock::new(|| {
    Script::new(concat!(
        prelude!(),
        r#"
if not is_hash(KEYS[1]) or redis.call('HGET', KEYS[1], 'h') ~= ARGV[1] then return 0 end
extend(KEYS[1], ttl_ms(ARGV[2]))
return 1
"#
    ))
});

/// Deletes a pointer when it still points at `user`. KEYS: the home key. ARGV: user id.
/// Returns 1 when deleted.
pub(crate) static HOME_DROP: LazyLock<Script> = LazyLock::new(|| {
    Script::new(concat!(
        prelude!(),
        r#"
if not is_hash(KEYS[1]) or redis.call('HGET', KEYS[1], 'h') ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
return 1
"#
    ))
});

/// Re-points a pointer from `old` to `new` and raises its TTL. KEYS: the home key. ARGV: old
/// user id, new user id, expires_at. Returns 1 when it pointed at `old`.
pub(crate) static HOME_REPOINT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(concat!(
        prelude!(),
        r#"
if not is_hash(KEYS[1]) or redis.call('HGET', KEYS[1], 'h') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'h', ARGV[2])
extend(KEYS[1], ttl_ms(ARGV[3]))
return 1
"#
    ))
});

/// Compare-and-swap of an anonymous session's record (in its home key) for a pointer to the
/// user it now belongs to. KEYS: the home key, the bucket's expiry index. ARGV: expected
/// version, user id, expires_at, id. Replies as [`UPDATE`], and `{4}` when the home key is a
/// pointer already (the session moved meanwhile).
pub(crate) static HOME_POINT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(concat!(
        prelude!(),
        r#"
local t = redis.call('TYPE', KEYS[1]).ok
if t == 'none' then return {0} end
if t ~= 'hash' then return {3} end
local cur = redis.call('HMGET', KEYS[1], 'v', 'd', 'e', 'l', 'h')
if cur[5] then return {4} end
if not cur[1] then return {3} end
if cur[1] ~= ARGV[1] then return {1, cur[2] or '', cur[3] or '', cur[4] or ''} end
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[4])
redis.call('HSET', KEYS[1], 'h', ARGV[2])
expire(KEYS[1], ttl_ms(ARGV[3]))
return {2}
"#
    ))
});

/// Re-scores (or removes) a user in the purge registry, if its score is still `old` (a write
/// may have lowered it meanwhile). KEYS: the registry. ARGV: user id, old score, new score (''
/// to remove). Returns 1 when changed.
pub(crate) static REGISTRY_SET: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local cur = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not cur or tonumber(cur) ~= tonumber(ARGV[2]) then return 0 end
if ARGV[3] == '' then
  redis.call('ZREM', KEYS[1], ARGV[1])
else
  redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
end
return 1
"#,
    )
});
