//! Tokens and the rate limit shared through a real Redis server (feature `redis`).
//!
//! Needs `B24_REDIS_URL` (`.ci/run` starts a server and sets it). Without it the tests say so and
//! pass, unless `B24_REQUIRE_REDIS=1`, which CI sets: there a missing server fails.
#![cfg(all(feature = "redis", feature = "full"))]

use std::sync::Arc;
use std::time::Duration;

use bitrix24::redis_store::{RedisTokenStore, connect};
use bitrix24::{Client, RateLimit, RateLimiter, RetryPolicy, TokenStore};
use bitrix24_sandbox::{Sandbox, SandboxConfig};

async fn redis() -> Option<redis::aio::ConnectionManager> {
    let Ok(url) = std::env::var("B24_REDIS_URL") else {
        assert!(
            std::env::var("B24_REQUIRE_REDIS").as_deref() != Ok("1"),
            "B24_REDIS_URL is not set"
        );
        eprintln!(
            "SKIPPED: B24_REDIS_URL is not set; start redis-server and set it to run these tests"
        );
        return None;
    };
    Some(connect(&url).await.expect("Redis answers"))
}

fn unique(prefix: &str) -> String {
    format!(
        "b24-test:{prefix}:{}:{:?}",
        std::process::id(),
        std::time::SystemTime::now()
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn machines_sharing_redis_renew_once() {
    let Some(redis) = redis().await else { return };
    let portal = Sandbox::start().await.unwrap();
    let key = unique("tokens");
    RedisTokenStore::new(redis.clone(), &key)
        .save(&portal.issue_tokens())
        .await
        .unwrap();
    // Eight "machines": separate clients with separate store handles on one key.
    let clients: Vec<Client> = (0..8)
        .map(|_| {
            Client::builder()
                .portal(portal.url().as_str())
                .oauth_from_store(
                    portal.oauth_app(),
                    RedisTokenStore::new(redis.clone(), &key),
                )
                .build()
                .unwrap()
        })
        .collect();
    for client in &clients {
        client.profile().await.unwrap();
    }
    portal.expire_access_tokens();
    let calls: Vec<_> = clients
        .iter()
        .map(|c| tokio::spawn(c.profile().into_future()))
        .collect();
    for call in calls {
        call.await.unwrap().expect("every machine continues");
    }
    assert_eq!(portal.stats().refreshes, 1, "one renewal for all machines");
    assert_eq!(portal.stats().refresh_failures, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_renewal_slower_than_the_lock_ttl_still_renews_once() {
    let Some(redis) = redis().await else { return };
    // The OAuth server takes 3 s; the lock would expire after 1 s if nobody kept it alive.
    let config = SandboxConfig::default().oauth_delay(Duration::from_secs(3));
    let portal = Sandbox::start_with(config).await.unwrap();
    let key = unique("slow");
    let store = || RedisTokenStore::new(redis.clone(), &key).lock_ttl(Duration::from_secs(1));
    store().save(&portal.issue_tokens()).await.unwrap();
    let machine = || {
        Client::builder()
            .portal(portal.url().as_str())
            .oauth_from_store(portal.oauth_app(), store())
            .build()
            .unwrap()
    };
    let (a, b) = (machine(), machine());
    a.profile().await.unwrap();
    b.profile().await.unwrap();
    portal.expire_access_tokens();
    let first = tokio::spawn(a.profile().into_future());
    tokio::time::sleep(Duration::from_millis(100)).await;
    let second = tokio::spawn(b.profile().into_future());
    first.await.unwrap().expect("the renewer continues");
    second.await.unwrap().expect("the waiter continues");
    assert_eq!(portal.stats().refreshes, 1, "one renewal");
    assert_eq!(
        portal.stats().refresh_failures,
        0,
        "no spent refresh token used"
    );
    // No rotated pair was lost: a machine starting from the store now works without renewing.
    machine().profile().await.expect("the stored pair works");
    assert_eq!(portal.stats().refreshes, 1);
}

#[tokio::test]
async fn the_renewal_lock_excludes_and_expires_with_its_holder() {
    let Some(redis) = redis().await else { return };
    let key = unique("lock");
    let (a, b) = (
        RedisTokenStore::new(redis.clone(), &key),
        RedisTokenStore::new(redis, &key),
    );
    let held = a.lock().await.unwrap();
    let waiting = tokio::spawn(async move { b.lock().await.map(|_| ()) });
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert!(!waiting.is_finished(), "the second holder waits");
    drop(held);
    tokio::time::timeout(std::time::Duration::from_secs(5), waiting)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn limiters_sharing_redis_never_overfill_the_bucket() {
    let Some(redis) = redis().await else { return };
    let limit = RateLimit::new(30, 100.0);
    let config = SandboxConfig::default().rate_limit(Some(limit));
    let portal = Sandbox::start_with(config).await.unwrap();
    let key = unique("bucket");
    // Four clients, as on four machines: alone, each would fill the bucket by itself.
    let clients: Vec<Client> = (0..4)
        .map(|_| {
            Client::builder()
                .webhook(&portal.webhook_url())
                .rate_limiter(Arc::new(RateLimiter::shared(limit, redis.clone(), &key)))
                .retry_policy(RetryPolicy::none())
                .build()
                .unwrap()
        })
        .collect();
    let calls: Vec<_> = (0..300)
        .map(|i| tokio::spawn(clients[i % 4].user_current().into_future()))
        .collect();
    for call in calls {
        call.await
            .unwrap()
            .expect("the portal never refuses a call");
    }
}
