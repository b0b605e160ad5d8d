#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Production-style verification: ES256 tokens checked against keys fetched
//! from a JWKS URL served over real HTTP on loopback.

use std::sync::{
    Arc,
    atomic::{AtomicUsize, Ordering},
};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use p256::{SecretKey, elliptic_curve::sec1::ToEncodedPoint, pkcs8::EncodePrivateKey};
use shared::auth::{AuthConfig, AuthError, Authenticator, Claims, issue_hs256_token};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpListener,
};

struct KeyPair {
    kid: &'static str,
    encoding: EncodingKey,
    jwk: serde_json::Value,
}

fn key_pair(kid: &'static str, seed: u8) -> KeyPair {
    let secret = SecretKey::from_slice(&[seed; 32]).unwrap();
    let pem = secret.to_pkcs8_pem(Default::default()).unwrap();
    let point = secret.public_key().to_encoded_point(false);
    let jwk = serde_json::json!({
        "kty": "EC", "crv": "P-256", "kid": kid, "alg": "ES256", "use": "sig",
        "x": URL_SAFE_NO_PAD.encode(point.x().unwrap()),
        "y": URL_SAFE_NO_PAD.encode(point.y().unwrap()),
    });
    KeyPair { kid, encoding: EncodingKey::from_ec_pem(pem.as_bytes()).unwrap(), jwk }
}

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

fn sign(key: &KeyPair, subject: &str) -> String {
    sign_claims(key, &Claims { sub: subject.to_owned(), exp: now() + 600, iat: None, nbf: None })
}

fn sign_claims(key: &KeyPair, claims: &Claims) -> String {
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some(key.kid.to_owned());
    encode(&header, claims, &key.encoding).unwrap()
}

fn sign_hs256(secret: &str, claims: &Claims) -> String {
    encode(&Header::new(Algorithm::HS256), claims, &EncodingKey::from_secret(secret.as_bytes())).unwrap()
}

/// Serves `body` as JSON to every request and counts the requests.
async fn serve_jwks(body: String) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/.well-known/jwks.json", listener.local_addr().unwrap());
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    tokio::spawn(async move {
        loop {
            let (mut socket, _) = listener.accept().await.unwrap();
            counter.fetch_add(1, Ordering::SeqCst);
            let body = body.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = socket.read(&mut buf).await;
                let response = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(response.as_bytes()).await;
            });
        }
    });
    (url, hits)
}

#[tokio::test]
async fn es256_tokens_verify_against_a_fetched_and_cached_jwks() {
    let key = key_pair("key-1", 7);
    let (url, hits) = serve_jwks(serde_json::json!({ "keys": [key.jwk] }).to_string()).await;
    let auth = Authenticator::new(&AuthConfig::jwks(url));

    assert_eq!(auth.verify(&sign(&key, "alice")).await.unwrap().as_str(), "alice");
    assert_eq!(auth.verify(&sign(&key, "bob")).await.unwrap().as_str(), "bob");
    assert_eq!(hits.load(Ordering::SeqCst), 1, "keys are cached");
}

#[tokio::test]
async fn tokens_from_unknown_keys_or_other_algorithms_are_rejected() {
    let known = key_pair("key-1", 7);
    let stranger = key_pair("key-2", 9);
    let (url, _) = serve_jwks(serde_json::json!({ "keys": [known.jwk] }).to_string()).await;
    let auth = Authenticator::new(&AuthConfig::jwks(url));

    assert!(matches!(auth.verify(&sign(&stranger, "mallory")).await, Err(AuthError::UnknownKey(_))));
    // A key that claims a known kid but signs with another key fails the signature.
    let impostor = KeyPair { kid: "key-1", ..key_pair("x", 9) };
    assert!(matches!(auth.verify(&sign(&impostor, "mallory")).await, Err(AuthError::InvalidToken(_))));
    // HS256 tokens are not accepted when a JWKS is configured.
    let hs = issue_hs256_token("whatever", "mallory", std::time::Duration::from_secs(60)).unwrap();
    assert!(auth.verify(&hs).await.is_err());
}

#[tokio::test]
async fn an_unreachable_jwks_is_unavailable_not_unauthenticated() {
    let key = key_pair("key-1", 7);
    let auth = Authenticator::new(&AuthConfig::jwks("http://127.0.0.1:9/jwks.json"));
    let err = auth.verify(&sign(&key, "alice")).await.unwrap_err();
    assert!(matches!(err, AuthError::Jwks(_)));
    assert_eq!(tonic::Status::from(err).code(), tonic::Code::Unavailable);
}

/// Claims for `alice`: valid for ten minutes, with `nbf` and `iat` as given
/// (seconds from now; negative is the past).
fn timed(nbf: Option<i64>, iat: Option<i64>) -> Claims {
    let at = |offset: i64| now().checked_add_signed(offset).unwrap();
    Claims { sub: "alice".into(), exp: now() + 600, iat: iat.map(at), nbf: nbf.map(at) }
}

#[tokio::test]
async fn a_token_not_yet_valid_or_issued_in_the_future_is_rejected_on_both_paths() {
    let key = key_pair("key-1", 7);
    let (url, _) = serve_jwks(serde_json::json!({ "keys": [key.jwk] }).to_string()).await;
    let jwks = Authenticator::new(&AuthConfig::jwks(url));
    let hs = Authenticator::new(&AuthConfig::hs256("s3cret"));
    // (claims, accepted?): within the leeway is fine, beyond it is not.
    let cases = [
        (timed(Some(-10), Some(-10)), true),
        (timed(Some(30), None), true),
        (timed(Some(3600), None), false),
        (timed(None, Some(30)), true),
        (timed(None, Some(3600)), false),
    ];
    for (claims, accepted) in cases {
        let via_jwks = jwks.verify(&sign_claims(&key, &claims)).await;
        let via_hs = hs.verify(&sign_hs256("s3cret", &claims)).await;
        for (path, result) in [("JWKS", via_jwks), ("HS256", via_hs)] {
            assert_eq!(result.is_ok(), accepted, "{path}, nbf {:?}, iat {:?}: {result:?}", claims.nbf, claims.iat);
            if let Err(err) = result {
                assert_eq!(tonic::Status::from(err).code(), tonic::Code::Unauthenticated);
            }
        }
    }
}

/// A token with `header` and `claims` as JSON, signed (or not) as given.
fn forge(header: serde_json::Value, claims: serde_json::Value, signature: &str) -> String {
    let part = |v: serde_json::Value| URL_SAFE_NO_PAD.encode(v.to_string());
    format!("{}.{}.{signature}", part(header), part(claims))
}

#[tokio::test]
async fn the_jwks_path_rejects_every_kind_of_bad_token() {
    let key = key_pair("key-1", 7);
    let (url, _) = serve_jwks(serde_json::json!({ "keys": [key.jwk] }).to_string()).await;
    let mut config = AuthConfig::jwks(url);
    config.issuer = Some("https://issuer.example".into());
    config.audience = Some("tasks".into());
    let auth = Authenticator::new(&config);
    let claims = |f: &dyn Fn(&mut serde_json::Value)| {
        let mut c = serde_json::json!({
            "sub": "alice", "exp": now() + 600, "iat": now(), "iss": "https://issuer.example", "aud": "tasks"
        });
        f(&mut c);
        c
    };
    let es256 = |c: serde_json::Value| {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some("key-1".into());
        encode(&header, &c, &key.encoding).unwrap()
    };
    assert_eq!(auth.verify(&es256(claims(&|_| {}))).await.unwrap().as_str(), "alice", "the control token is fine");
    // HS256 signed with the public key's bytes as the secret: the classic confusion.
    let public_as_secret = key.jwk.to_string();
    let confused = encode(
        &Header { kid: Some("key-1".into()), ..Header::new(Algorithm::HS256) },
        &claims(&|_| {}),
        &EncodingKey::from_secret(public_as_secret.as_bytes()),
    )
    .unwrap();
    let cases: Vec<(&str, String)> = vec![
        ("malformed", "not.a.token".into()),
        ("alg none", forge(serde_json::json!({"alg": "none", "kid": "key-1"}), claims(&|_| {}), "")),
        ("HS256 with the public key as secret", confused),
        ("expired", es256(claims(&|c| c["exp"] = (now() - 3600).into()))),
        ("not yet valid", es256(claims(&|c| c["nbf"] = (now() + 3600).into()))),
        ("issued in the future", es256(claims(&|c| c["iat"] = (now() + 3600).into()))),
        ("wrong audience", es256(claims(&|c| c["aud"] = "others".into()))),
        ("no audience", es256(claims(&|c| drop(c.as_object_mut().unwrap().remove("aud"))))),
        ("wrong issuer", es256(claims(&|c| c["iss"] = "https://evil.example".into()))),
        ("no issuer", es256(claims(&|c| drop(c.as_object_mut().unwrap().remove("iss"))))),
        ("no subject", es256(claims(&|c| drop(c.as_object_mut().unwrap().remove("sub"))))),
        ("empty subject", es256(claims(&|c| c["sub"] = "".into()))),
        ("no expiry", es256(claims(&|c| drop(c.as_object_mut().unwrap().remove("exp"))))),
    ];
    for (case, token) in cases {
        let err = auth.verify(&token).await.expect_err(case);
        assert_eq!(tonic::Status::from(err).code(), tonic::Code::Unauthenticated, "{case}");
    }
}
