//! JWT bearer authentication.
//!
//! Callers send `authorization: Bearer <JWT>`; the token's `sub` is the user
//! id every query is scoped to. Two ways to verify tokens:
//! - **HS256 with a shared secret** (`AUTH_HS256_SECRET`), for development
//!   and tests. Mint a token with the `dev-token` binary.
//! - **RS256 / ES256 with a JWKS URL** (`AUTH_JWKS_URL`), for production:
//!   keys are fetched, cached, and refetched when a token names an unknown
//!   `kid` (at most every [`JWKS_MIN_REFRESH`]).
//!
//! `AUTH_ISSUER` and `AUTH_AUDIENCE`, when set, are checked too.
//!
//! A client sends the same token on every call, so a verified token is
//! remembered for up to [`VERIFIED_TOKEN_TTL`] (never past its `exp`): its
//! signature is checked once a minute, not once per call (the rate limit
//! and the handler each ask who the caller is).

use std::{
    collections::HashMap,
    sync::{Arc, RwLock as SyncRwLock},
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use jsonwebtoken::{
    Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, decode_header, encode, jwk::JwkSet,
};
use serde::{Deserialize, Serialize};
use tokio::sync::RwLock;
use tonic::{Code, Status, metadata::MetadataMap};

use crate::status;

/// The secret `make dev` and the tests use when none is configured. Never
/// accepted when a JWKS URL is configured.
pub const DEV_HS256_SECRET: &str = "insecure-development-secret";
/// Unknown `kid`s trigger a JWKS refetch at most this often.
pub const JWKS_MIN_REFRESH: Duration = Duration::from_secs(30);
/// Known keys are refetched after this long anyway, to follow rotation.
pub const JWKS_MAX_AGE: Duration = Duration::from_secs(600);

/// How long a verified token is trusted without checking its signature
/// again (at most until it expires): a key withdrawn from the JWKS stops
/// being honoured within this time.
pub const VERIFIED_TOKEN_TTL: Duration = Duration::from_secs(60);
/// At most this many verified tokens are remembered.
const VERIFIED_TOKENS_KEPT: usize = 10_000;

/// The authenticated user: a JWT subject, 1 to 255 characters. Cheap to
/// clone.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UserId(Arc<str>);

impl UserId {
    pub fn parse(raw: &str) -> Result<Self, AuthError> {
        if raw.is_empty() || raw.len() > 255 || raw.chars().any(char::is_control) {
            return Err(AuthError::InvalidSubject);
        }
        Ok(Self(raw.into()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for UserId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why a request is not authenticated. All become UNAUTHENTICATED.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("missing `authorization: Bearer <token>` metadata")]
    MissingToken,
    #[error("the authorization metadata is not a bearer token")]
    NotBearer,
    #[error("invalid token: {0}")]
    InvalidToken(#[from] jsonwebtoken::errors::Error),
    #[error("the token's subject is not a valid user id")]
    InvalidSubject,
    #[error("no key for the token (kid {0:?})")]
    UnknownKey(Option<String>),
    #[error("the token was issued in the future")]
    IssuedInTheFuture,
    #[error("cannot fetch the JWKS: {0}")]
    Jwks(String),
}

impl AuthError {
    fn reason(&self) -> &'static str {
        match self {
            AuthError::MissingToken | AuthError::NotBearer => "MISSING_CREDENTIALS",
            AuthError::Jwks(_) => "KEYS_UNAVAILABLE",
            _ => "INVALID_CREDENTIALS",
        }
    }
}

impl From<AuthError> for Status {
    fn from(err: AuthError) -> Self {
        // Key-fetch trouble is ours, not the caller's: say so, retryably.
        let code = match err {
            AuthError::Jwks(_) => Code::Unavailable,
            _ => Code::Unauthenticated,
        };
        status::error(code, err.reason(), err.to_string())
    }
}

/// The claims we read and write.
#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub exp: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<u64>,
    /// Not before: the token is not valid until then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
}

/// How far clocks may disagree: `exp`, `nbf` and `iat` are each allowed
/// this much slack.
pub const CLOCK_LEEWAY: Duration = Duration::from_secs(60);

fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default()
}

/// How tokens are verified; built from the environment by [`AuthConfig::from_env`].
#[derive(Clone)]
pub struct AuthConfig {
    pub keys: Keys,
    /// When set, a token's `iss` must be this.
    pub issuer: Option<String>,
    /// When set, a token's `aud` must include this.
    pub audience: Option<String>,
}

/// Where the keys that sign tokens come from.
#[derive(Clone)]
pub enum Keys {
    /// A shared HS256 secret (development).
    Hs256 { secret: String },
    /// RS256/ES256 public keys from a JWKS URL (production).
    Jwks { url: String },
}

impl std::fmt::Debug for AuthConfig {
    // The secret never reaches logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let keys = match &self.keys {
            Keys::Hs256 { .. } => "Hs256 { secret: <redacted> }".to_owned(),
            Keys::Jwks { url } => format!("Jwks {{ url: {url} }}"),
        };
        write!(f, "AuthConfig {{ keys: {keys}, issuer: {:?}, audience: {:?} }}", self.issuer, self.audience)
    }
}

impl AuthConfig {
    /// HS256 tokens signed with `secret`, no issuer or audience required.
    pub fn hs256(secret: impl Into<String>) -> Self {
        Self { keys: Keys::Hs256 { secret: secret.into() }, issuer: None, audience: None }
    }

    /// Tokens signed by the keys at `url`, no issuer or audience required.
    pub fn jwks(url: impl Into<String>) -> Self {
        Self { keys: Keys::Jwks { url: url.into() }, issuer: None, audience: None }
    }

    /// `AUTH_JWKS_URL` if set, else `AUTH_HS256_SECRET`, else the development
    /// secret; `AUTH_ISSUER` and `AUTH_AUDIENCE` when set.
    pub fn from_env() -> Self {
        let keys = match crate::config::var("AUTH_JWKS_URL") {
            Some(url) => Keys::Jwks { url },
            None => Keys::Hs256 {
                secret: crate::config::var("AUTH_HS256_SECRET").unwrap_or_else(|| {
                    tracing::warn!("AUTH_HS256_SECRET is not set: using the insecure development secret");
                    DEV_HS256_SECRET.to_owned()
                }),
            },
        };
        Self { keys, issuer: crate::config::var("AUTH_ISSUER"), audience: crate::config::var("AUTH_AUDIENCE") }
    }
}

/// Verifies bearer tokens. Cheap to clone.
#[derive(Clone)]
pub struct Authenticator {
    inner: Arc<Inner>,
}

struct Inner {
    keys: KeySource,
    issuer: Option<String>,
    audience: Option<String>,
    verified: VerifiedTokens,
}

/// Tokens whose signature and claims were checked, with their user.
#[derive(Default)]
struct VerifiedTokens {
    // Read on every call, written once a minute per client.
    tokens: SyncRwLock<HashMap<Box<str>, Verified>>,
}

struct Verified {
    user: UserId,
    /// Unix seconds from which the token is checked again.
    until: u64,
}

impl VerifiedTokens {
    /// The user of `token` if it was verified and is still trusted. Time only
    /// moves on, so `nbf` and `iat`, fine then, are fine now.
    fn get(&self, token: &str, now: u64) -> Option<UserId> {
        let tokens = self.tokens.read().ok()?;
        tokens.get(token).filter(|v| now < v.until).map(|v| v.user.clone())
    }

    fn insert(&self, token: &str, user: UserId, expires: u64, now: u64) {
        let Ok(mut tokens) = self.tokens.write() else { return };
        if tokens.len() >= VERIFIED_TOKENS_KEPT {
            tokens.retain(|_, v| now < v.until);
            if tokens.len() >= VERIFIED_TOKENS_KEPT {
                tokens.clear();
            }
        }
        // jsonwebtoken accepts a token until `exp` plus the leeway.
        let until = (now + VERIFIED_TOKEN_TTL.as_secs()).min(expires.saturating_add(CLOCK_LEEWAY.as_secs()));
        tokens.insert(token.into(), Verified { user, until });
    }
}

enum KeySource {
    Secret(DecodingKey),
    Jwks { url: String, http: reqwest::Client, cache: RwLock<JwksCache> },
}

#[derive(Default)]
struct JwksCache {
    set: Option<JwkSet>,
    fetched: Option<Instant>,
}

impl Authenticator {
    pub fn new(config: &AuthConfig) -> Self {
        let keys = match &config.keys {
            Keys::Hs256 { secret } => KeySource::Secret(DecodingKey::from_secret(secret.as_bytes())),
            Keys::Jwks { url } => KeySource::Jwks {
                url: url.clone(),
                http: reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap_or_default(),
                cache: RwLock::new(JwksCache::default()),
            },
        };
        Self {
            inner: Arc::new(Inner {
                keys,
                issuer: config.issuer.clone(),
                audience: config.audience.clone(),
                verified: VerifiedTokens::default(),
            }),
        }
    }

    /// The user of a request, from its `authorization` metadata.
    pub async fn authenticate(&self, metadata: &MetadataMap) -> Result<UserId, AuthError> {
        let value = metadata.get("authorization").ok_or(AuthError::MissingToken)?;
        let value = value.to_str().map_err(|_| AuthError::NotBearer)?;
        let token =
            value.strip_prefix("Bearer ").or_else(|| value.strip_prefix("bearer ")).ok_or(AuthError::NotBearer)?.trim();
        self.verify(token).await
    }

    /// The subject of a token, if the token is valid.
    pub async fn verify(&self, token: &str) -> Result<UserId, AuthError> {
        let now = now_secs();
        if let Some(user) = self.inner.verified.get(token, now) {
            return Ok(user);
        }
        let (user, expires) = self.check(token, now).await?;
        self.inner.verified.insert(token, user.clone(), expires, now);
        Ok(user)
    }

    /// Checks `token`'s signature and claims at `now` (Unix seconds): its
    /// user and its `exp`.
    async fn check(&self, token: &str, now: u64) -> Result<(UserId, u64), AuthError> {
        let header = decode_header(token)?;
        let claims = match &self.inner.keys {
            KeySource::Secret(key) => decode::<Claims>(token, key, &self.validation(Algorithm::HS256))?.claims,
            KeySource::Jwks { .. } => {
                if !matches!(header.alg, Algorithm::RS256 | Algorithm::ES256) {
                    return Err(AuthError::UnknownKey(header.kid));
                }
                let key = self.jwks_key(header.kid.as_deref()).await?;
                decode::<Claims>(token, &key, &self.validation(header.alg))?.claims
            }
        };
        // jsonwebtoken checks `exp` and `nbf`; a token minted in the future
        // is as suspect as one not yet valid.
        if claims.iat.is_some_and(|iat| iat > now + CLOCK_LEEWAY.as_secs()) {
            return Err(AuthError::IssuedInTheFuture);
        }
        Ok((UserId::parse(&claims.sub)?, claims.exp))
    }

    fn validation(&self, alg: Algorithm) -> Validation {
        let mut validation = Validation::new(alg);
        validation.leeway = CLOCK_LEEWAY.as_secs();
        validation.validate_nbf = true;
        validation.validate_aud = false;
        // A configured audience or issuer must be present, not just right
        // when present: jsonwebtoken checks only the claims it requires.
        let mut required = vec!["exp", "sub"];
        if let Some(aud) = &self.inner.audience {
            validation.set_audience(&[aud]);
            validation.validate_aud = true;
            required.push("aud");
        }
        if let Some(iss) = &self.inner.issuer {
            validation.set_issuer(&[iss]);
            required.push("iss");
        }
        validation.set_required_spec_claims(&required);
        validation
    }

    async fn jwks_key(&self, kid: Option<&str>) -> Result<DecodingKey, AuthError> {
        let KeySource::Jwks { url, http, cache } = &self.inner.keys else {
            return Err(AuthError::UnknownKey(kid.map(str::to_owned)));
        };
        {
            let cached = cache.read().await;
            let fresh = cached.fetched.is_some_and(|t| t.elapsed() < JWKS_MAX_AGE);
            if let (true, Some(set)) = (fresh, &cached.set) {
                if let Some(key) = find_key(set, kid) {
                    return key;
                }
                if cached.fetched.is_some_and(|t| t.elapsed() < JWKS_MIN_REFRESH) {
                    return Err(AuthError::UnknownKey(kid.map(str::to_owned)));
                }
            }
        }
        let mut cached = cache.write().await;
        let set: JwkSet = http
            .get(url)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|e| AuthError::Jwks(e.to_string()))?
            .json()
            .await
            .map_err(|e| AuthError::Jwks(e.to_string()))?;
        let key = find_key(&set, kid);
        cached.set = Some(set);
        cached.fetched = Some(Instant::now());
        key.unwrap_or_else(|| Err(AuthError::UnknownKey(kid.map(str::to_owned))))
    }
}

fn find_key(set: &JwkSet, kid: Option<&str>) -> Option<Result<DecodingKey, AuthError>> {
    let jwk = match kid {
        Some(kid) => set.find(kid)?,
        None if set.keys.len() == 1 => set.keys.first()?,
        None => return None,
    };
    Some(DecodingKey::from_jwk(jwk).map_err(AuthError::from))
}

/// Mints an HS256 token for `subject`, valid for `ttl`. For development and tests.
pub fn issue_hs256_token(secret: &str, subject: &str, ttl: Duration) -> Result<String, AuthError> {
    let now = now_secs();
    let claims = Claims { sub: subject.to_owned(), exp: now + ttl.as_secs(), iat: Some(now), nbf: None };
    Ok(encode(&Header::new(Algorithm::HS256), &claims, &EncodingKey::from_secret(secret.as_bytes()))?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alice() -> UserId {
        UserId::parse("alice").unwrap()
    }

    #[test]
    fn a_verified_token_is_trusted_for_the_ttl_then_checked_again() {
        let verified = VerifiedTokens::default();
        let (now, ttl) = (1_000_000, VERIFIED_TOKEN_TTL.as_secs());
        verified.insert("t", alice(), now + 3600, now);
        assert_eq!(verified.get("t", now + ttl - 1), Some(alice()));
        assert_eq!(verified.get("t", now + ttl), None);
        assert_eq!(verified.get("other", now), None);
    }

    #[test]
    fn a_verified_token_is_never_trusted_past_its_expiry() {
        let verified = VerifiedTokens::default();
        let now = 1_000_000;
        // Expired 10 s ago, still within the leeway jsonwebtoken allows.
        verified.insert("t", alice(), now - 10, now);
        let until = now - 10 + CLOCK_LEEWAY.as_secs();
        assert_eq!(verified.get("t", until - 1), Some(alice()));
        assert_eq!(verified.get("t", until), None);
    }

    #[test]
    fn the_verified_tokens_kept_are_bounded() {
        let verified = VerifiedTokens::default();
        let now = 1_000_000;
        for i in 0..VERIFIED_TOKENS_KEPT + 10 {
            verified.insert(&format!("token-{i}"), alice(), now + 3600, now);
        }
        let kept = verified.tokens.read().unwrap().len();
        assert!(kept <= VERIFIED_TOKENS_KEPT, "{kept} kept");
        assert_eq!(verified.get(&format!("token-{}", VERIFIED_TOKENS_KEPT + 9), now), Some(alice()));
    }

    #[tokio::test]
    async fn a_remembered_token_still_names_its_own_user_and_bad_ones_are_not_remembered() {
        let auth = Authenticator::new(&AuthConfig::hs256("s3cret"));
        let token = issue_hs256_token("s3cret", "alice", Duration::from_secs(600)).unwrap();
        for _ in 0..2 {
            assert_eq!(auth.verify(&token).await.unwrap(), alice());
        }
        let forged = issue_hs256_token("other", "mallory", Duration::from_secs(600)).unwrap();
        for _ in 0..2 {
            assert!(matches!(auth.verify(&forged).await, Err(AuthError::InvalidToken(_))));
        }
        assert_eq!(auth.inner.verified.tokens.read().unwrap().len(), 1);
    }
}
