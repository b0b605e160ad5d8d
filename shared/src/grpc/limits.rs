//! What one caller may ask of a server: how long a call may take, how many
//! calls a connection may have open, how large a request may be, and how
//! many calls a user may make per second.
//!
//! The time limit and the per-user rate are a tower layer ([`LimitsLayer`])
//! around every service of a [`super::Host`]; the stream and message limits
//! are tonic's own (HTTP/2 `SETTINGS_MAX_CONCURRENT_STREAMS`, refused
//! streams being retried by clients, and each service's decoding limit,
//! [`Limits::max_message_bytes`]). Errors follow AIP-193 like every other:
//! DEADLINE_EXCEEDED (`REQUEST_TIMEOUT`); RESOURCE_EXHAUSTED (`RATE_LIMITED`)
//! with a `RetryInfo` saying when to try again, as Google APIs answer; and
//! RESOURCE_EXHAUSTED (`MESSAGE_TOO_LARGE`) for an oversized request, the
//! code gRPC prescribes (tonic itself answers OUT_OF_RANGE, without details,
//! so the layer rewrites that answer).

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    task::{Context, Poll},
    time::{Duration, Instant},
};

use futures::future::BoxFuture;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

use crate::{
    auth::Authenticator,
    config::{self, ConfigError},
    status::ERROR_DOMAIN,
};

/// The limits of one server; [`Limits::from_env`] reads them.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// Longest a unary call (or a stream's start) may take.
    pub request_timeout: Duration,
    /// Calls one HTTP/2 connection may have open at once.
    pub max_concurrent_streams: u32,
    /// Largest request message a service decodes.
    pub max_message_bytes: usize,
    /// Calls per second one authenticated user may make, with bursts of
    /// `burst`; `None` turns the limit off.
    pub per_user: Option<Rate>,
}

/// A token bucket: `per_second` calls on average, up to `burst` at once.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    pub per_second: f64,
    pub burst: f64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            request_timeout: Duration::from_secs(30),
            max_concurrent_streams: 200,
            max_message_bytes: 1024 * 1024,
            per_user: Some(Rate { per_second: 100.0, burst: 200.0 }),
        }
    }
}

impl Limits {
    /// From the environment (blank or unset: the default):
    ///
    /// | variable | default | |
    /// |---|---|---|
    /// | `GRPC_REQUEST_TIMEOUT_SECONDS` | `30` | per call |
    /// | `GRPC_MAX_CONCURRENT_STREAMS` | `200` | per connection |
    /// | `GRPC_MAX_MESSAGE_BYTES` | `1048576` | per request message |
    /// | `RATE_LIMIT_PER_USER` | `100` | calls per second per user; `0` = no limit |
    /// | `RATE_LIMIT_BURST` | twice the rate | calls a user may make at once |
    ///
    /// # Errors
    /// A variable that is set but malformed.
    pub fn from_env() -> Result<Self, ConfigError> {
        let defaults = Self::default();
        let rate: f64 = config::parse("RATE_LIMIT_PER_USER", 100.0)?;
        let burst: f64 = config::parse("RATE_LIMIT_BURST", rate * 2.0)?;
        Ok(Self {
            request_timeout: config::seconds("GRPC_REQUEST_TIMEOUT_SECONDS", defaults.request_timeout.as_secs())?,
            max_concurrent_streams: config::parse("GRPC_MAX_CONCURRENT_STREAMS", defaults.max_concurrent_streams)?,
            max_message_bytes: config::parse("GRPC_MAX_MESSAGE_BYTES", defaults.max_message_bytes)?,
            per_user: (rate > 0.0).then_some(Rate { per_second: rate, burst: burst.max(1.0) }),
        })
    }

    /// No per-user rate limit (benchmarks, load tests).
    pub fn unthrottled(mut self) -> Self {
        self.per_user = None;
        self
    }
}

/// Per-user token buckets.
struct Buckets {
    rate: Rate,
    buckets: Mutex<HashMap<String, Bucket>>,
}

struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Buckets {
    /// Takes one token of `user`'s bucket; when there is none, how long
    /// until there is.
    fn take(&self, user: &str, now: Instant) -> Result<(), Duration> {
        let Ok(mut buckets) = self.buckets.lock() else { return Ok(()) };
        // Forget buckets that have refilled: their users are idle.
        if buckets.len() > 10_000 {
            let full = Duration::from_secs_f64(self.rate.burst / self.rate.per_second);
            buckets.retain(|_, b| now.duration_since(b.at) < full);
        }
        let bucket = buckets.entry(user.to_owned()).or_insert(Bucket { tokens: self.rate.burst, at: now });
        let refill = now.duration_since(bucket.at).as_secs_f64() * self.rate.per_second;
        bucket.tokens = (bucket.tokens + refill).min(self.rate.burst);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - bucket.tokens) / self.rate.per_second))
        }
    }
}

/// The tower layer of the time limit and the per-user rate.
#[derive(Clone)]
pub struct LimitsLayer {
    timeout: Duration,
    rate: Option<(Authenticator, Arc<Buckets>)>,
}

impl LimitsLayer {
    /// `auth` identifies the user of a call for the rate limit; calls it
    /// cannot authenticate pass through (their handler rejects them).
    pub fn new(limits: &Limits, auth: Option<Authenticator>) -> Self {
        let rate = limits
            .per_user
            .zip(auth)
            .map(|(rate, auth)| (auth, Arc::new(Buckets { rate, buckets: Mutex::new(HashMap::new()) })));
        Self { timeout: limits.request_timeout, rate }
    }
}

impl<S> tower::Layer<S> for LimitsLayer {
    type Service = LimitsService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        LimitsService { inner, layer: self.clone() }
    }
}

#[derive(Clone)]
pub struct LimitsService<S> {
    inner: S,
    layer: LimitsLayer,
}

impl<S, B> tower::Service<http::Request<B>> for LimitsService<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<tonic::body::Body>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        // The clone is ready only if polled; swap so the ready one serves.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let layer = self.layer.clone();
        Box::pin(async move {
            if let Some((auth, buckets)) = &layer.rate
                && let Some(token) = bearer(&request)
                && let Ok(user) = auth.verify(&token).await
                && let Err(wait) = buckets.take(user.as_str(), Instant::now())
            {
                return Ok(rate_limited(wait).into_http());
            }
            match tokio::time::timeout(layer.timeout, inner.call(request)).await {
                Ok(Ok(response)) if is_oversized(&response) => Ok(too_large().into_http()),
                Ok(response) => response,
                Err(_) => Ok(timed_out(layer.timeout).into_http()),
            }
        })
    }
}

fn bearer<B>(request: &http::Request<B>) -> Option<String> {
    let value = request.headers().get(http::header::AUTHORIZATION)?.to_str().ok()?;
    let token = value.strip_prefix("Bearer ").or_else(|| value.strip_prefix("bearer "))?;
    Some(token.trim().to_owned())
}

/// tonic's answer to a request message over the decoding limit: a
/// trailers-only response with OUT_OF_RANGE and this message.
fn is_oversized(response: &http::Response<tonic::body::Body>) -> bool {
    let header = |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok());
    header("grpc-status") == Some("11")
        && header("grpc-message").is_some_and(|m| m.starts_with("Error,%20decoded%20message%20length%20too%20large"))
}

fn too_large() -> Status {
    crate::status::error(
        Code::ResourceExhausted,
        "MESSAGE_TOO_LARGE",
        "the request message is larger than the server accepts",
    )
}

fn rate_limited(wait: Duration) -> Status {
    let mut details = ErrorDetails::with_error_info(
        "RATE_LIMITED",
        ERROR_DOMAIN,
        HashMap::from([("retry_after_ms".to_owned(), wait.as_millis().to_string())]),
    );
    details.set_retry_info(Some(wait));
    Status::with_error_details(
        Code::ResourceExhausted,
        format!("too many calls from this user; retry in {} ms", wait.as_millis().max(1)),
        details,
    )
}

fn timed_out(limit: Duration) -> Status {
    crate::status::error(
        Code::DeadlineExceeded,
        "REQUEST_TIMEOUT",
        format!("the call did not finish within the server's limit of {} ms", limit.as_millis()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_allows_its_burst_then_its_rate() {
        let buckets = Buckets { rate: Rate { per_second: 10.0, burst: 3.0 }, buckets: Mutex::new(HashMap::new()) };
        let start = Instant::now();
        for _ in 0..3 {
            assert!(buckets.take("alice", start).is_ok());
        }
        let wait = buckets.take("alice", start).unwrap_err();
        assert!(wait > Duration::from_millis(90) && wait <= Duration::from_millis(100), "{wait:?}");
        assert!(buckets.take("bob", start).is_ok(), "each user has their own bucket");
        assert!(buckets.take("alice", start + Duration::from_millis(100)).is_ok(), "refilled at the rate");
    }
}
