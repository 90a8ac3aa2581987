//! State shared by processes on several machines, kept in Redis (feature `redis`): the OAuth
//! token pair with its renewal lock, and the portal's request bucket.
//!
//! A file store and an in-process limiter serve one machine; an application running on several
//! needs both in one place, or the machines renew with the same refresh token (one of them gets
//! `invalid_grant`) and together overfill the portal's bucket. Redis keeps the pair under one key,
//! a renewal lock under another (`SET NX PX`, extended by its holder while it works, released
//! only by its holder, expiring if the holder dies), and the bucket's schedule under a third,
//! updated atomically by a script that reads the Redis server's clock, so machines with skewed
//! clocks still agree.

use std::fmt;
use std::sync::LazyLock;
use std::time::Duration;

use futures::future::BoxFuture;
use redis::aio::ConnectionManager;
use redis::{AsyncCommands, Script};

use crate::auth::{StoreError, StoreGuard, TokenStore, Tokens};

/// How long a renewal lock lives if its holder dies without releasing it; while the holder
/// lives, it keeps extending the lock, so a renewal may take as long as it takes.
const LOCK_TTL: Duration = Duration::from_secs(30);

/// How long a process waits for another's renewal lock: longer than a renewal can take with the
/// client's default 120 s HTTP timeout.
const LOCK_WAIT: Duration = Duration::from_secs(180);

fn store_error(what: &str, e: redis::RedisError) -> StoreError {
    // Redis errors name commands and keys, never values.
    StoreError(format!("redis {what}: {e}"))
}

/// Connects to Redis (`redis://host:port/db`); the connection reconnects by itself.
pub async fn connect(url: &str) -> Result<ConnectionManager, StoreError> {
    let client = redis::Client::open(url).map_err(|e| store_error("url", e))?;
    client
        .get_connection_manager()
        .await
        .map_err(|e| store_error("connect", e))
}

/// Keeps one portal's tokens in Redis under `key` (JSON), with a renewal lock at `key:lock`.
#[derive(Clone)]
pub struct RedisTokenStore {
    redis: ConnectionManager,
    key: String,
    lock_ttl: Duration,
}

impl RedisTokenStore {
    /// A store at `key`, e.g. `b24:tokens:<member_id>`.
    pub fn new(redis: ConnectionManager, key: impl Into<String>) -> Self {
        Self {
            redis,
            key: key.into(),
            lock_ttl: LOCK_TTL,
        }
    }

    /// How long the renewal lock lives if its holder dies without releasing it (default 30 s);
    /// a living holder extends it every third of that. At least 30 ms.
    pub fn lock_ttl(mut self, ttl: Duration) -> Self {
        self.lock_ttl = ttl.max(Duration::from_millis(30));
        self
    }
}

impl fmt::Debug for RedisTokenStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisTokenStore")
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

/// Deletes the lock only if it still holds our value: an expired lock taken over by another
/// process must not be released by us.
static RELEASE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('DEL', KEYS[1])
end
return 0
"#,
    )
});

/// Extends the lock only if it still holds our value.
static EXTEND: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"#,
    )
});

/// Keeps a Redis lock alive while held; releases it when dropped.
struct RedisLock {
    redis: ConnectionManager,
    key: String,
    value: String,
    keeper: tokio::task::AbortHandle,
}

impl RedisLock {
    /// Holds the lock `key` = `value`, extending it every third of `ttl` until dropped: a
    /// renewal slower than the TTL (the HTTP timeout is 120 s, the TTL 30 s) must not let a
    /// second process in to spend the same refresh token.
    fn hold(redis: ConnectionManager, key: String, value: String, ttl: Duration) -> Self {
        let (mut conn, k, v) = (redis.clone(), key.clone(), value.clone());
        let keeper = tokio::spawn(async move {
            let mut every = tokio::time::interval(ttl / 3);
            every.tick().await; // the first tick is now: the lock was just taken
            loop {
                every.tick().await;
                let extended: redis::RedisResult<i64> = EXTEND
                    .key(&k)
                    .arg(&v)
                    .arg(ttl.as_millis() as u64)
                    .invoke_async(&mut conn)
                    .await;
                match extended {
                    Ok(1) => {}
                    Ok(_) => {
                        tracing::warn!("redis: the token lock expired before it was extended");
                        return;
                    }
                    // Tried again next tick; the lock lives on until its TTL meanwhile.
                    Err(e) => tracing::warn!("redis: extending the token lock failed: {e}"),
                }
            }
        });
        Self {
            redis,
            key,
            value,
            keeper: keeper.abort_handle(),
        }
    }
}

impl Drop for RedisLock {
    fn drop(&mut self) {
        self.keeper.abort();
        let (mut redis, key, value) = (self.redis.clone(), self.key.clone(), self.value.clone());
        // Drop cannot wait; a lock we fail to release expires after its TTL.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                let released: redis::RedisResult<i64> =
                    RELEASE.key(&key).arg(&value).invoke_async(&mut redis).await;
                if let Err(e) = released {
                    tracing::warn!("redis: releasing the token lock failed: {e}");
                }
            });
        }
    }
}

impl TokenStore for RedisTokenStore {
    fn load(&self) -> BoxFuture<'_, Result<Option<Tokens>, StoreError>> {
        Box::pin(async move {
            let mut redis = self.redis.clone();
            let data: Option<Vec<u8>> = redis
                .get(&self.key)
                .await
                .map_err(|e| store_error("GET", e))?;
            data.map(|d| serde_json::from_slice(&d))
                .transpose()
                .map_err(|e| StoreError(format!("redis key {}: not a token pair: {e}", self.key)))
        })
    }

    fn save<'a>(&'a self, tokens: &'a Tokens) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let data = serde_json::to_vec(tokens)
                .map_err(|e| StoreError(format!("cannot encode tokens: {e}")))?;
            let mut redis = self.redis.clone();
            redis
                .set::<_, _, ()>(&self.key, data)
                .await
                .map_err(|e| store_error("SET", e))
        })
    }

    fn lock(&self) -> BoxFuture<'_, Result<StoreGuard, StoreError>> {
        Box::pin(async move {
            let key = format!("{}:lock", self.key);
            let value = unique_value();
            let mut redis = self.redis.clone();
            let mut pause = Duration::from_millis(5);
            let deadline = tokio::time::Instant::now() + LOCK_WAIT;
            loop {
                let taken: Option<String> = redis::cmd("SET")
                    .arg(&key)
                    .arg(&value)
                    .arg("NX")
                    .arg("PX")
                    .arg(self.lock_ttl.as_millis() as u64)
                    .query_async(&mut redis)
                    .await
                    .map_err(|e| store_error("SET NX", e))?;
                if taken.is_some() {
                    let lock = RedisLock::hold(redis, key, value, self.lock_ttl);
                    return Ok(StoreGuard::new(lock));
                }
                if tokio::time::Instant::now() > deadline {
                    return Err(StoreError(format!(
                        "redis key {key}: lock not released within {LOCK_WAIT:?}"
                    )));
                }
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_millis(100));
            }
        })
    }
}

/// A value no other lock holder has.
fn unique_value() -> String {
    use std::hash::{BuildHasher, RandomState};
    format!(
        "{}-{:016x}",
        std::process::id(),
        RandomState::new().hash_one(std::time::SystemTime::now())
    )
}

/// The GCRA schedule of a portal's bucket in Redis: one atomic step per request, on the Redis
/// server's clock (microseconds). Returns how long the caller waits before sending.
static RESERVE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local ready = tat - tolerance
if ready < now then ready = now end
local next_tat = tat + interval
redis.call('SET', KEYS[1], string.format('%.0f', next_tat), 'PX', math.ceil((next_tat - now) / 1000) + 1000)
return ready - now
"#,
    )
});

/// Marks the shared bucket full (after `QUERY_LIMIT_EXCEEDED`).
static SATURATE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local full = now + tonumber(ARGV[1])
local tat = tonumber(redis.call('GET', KEYS[1]) or 0)
if tat < full then
    redis.call('SET', KEYS[1], string.format('%.0f', full), 'PX', math.ceil((full - now) / 1000) + 1000)
end
return 0
"#,
    )
});

/// The bucket schedule shared through Redis (see [`crate::RateLimiter::shared`]).
#[derive(Clone)]
pub(crate) struct RedisBucket {
    pub(crate) redis: ConnectionManager,
    pub(crate) key: String,
}

impl fmt::Debug for RedisBucket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisBucket")
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

impl RedisBucket {
    /// Reserves the next slot; returns the wait before it.
    pub(crate) async fn reserve(
        &self,
        interval: Duration,
        tolerance: Duration,
    ) -> Result<Duration, StoreError> {
        let mut redis = self.redis.clone();
        let wait: i64 = RESERVE
            .key(&self.key)
            .arg(interval.as_micros() as u64)
            .arg(tolerance.as_micros() as u64)
            .invoke_async(&mut redis)
            .await
            .map_err(|e| store_error("bucket", e))?;
        Ok(Duration::from_micros(wait.max(0) as u64))
    }

    pub(crate) async fn saturate(&self, full_in: Duration) -> Result<(), StoreError> {
        let mut redis = self.redis.clone();
        let _: i64 = SATURATE
            .key(&self.key)
            .arg(full_in.as_micros() as u64)
            .invoke_async(&mut redis)
            .await
            .map_err(|e| store_error("bucket", e))?;
        Ok(())
    }
}
