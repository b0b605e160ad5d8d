//! Opaque, tamper-proof page tokens (AIP-158).
//!
//! A token carries the keyset position of the last item of a page and a
//! fingerprint of the query (user, filter, order, show_deleted). It is
//! HMAC-SHA256 signed with a server secret, so a client can neither forge a
//! position nor replay a token under another user or another query: either
//! is rejected as INVALID_ARGUMENT. (Queries are scoped to the caller
//! anyway; the signature makes the contract explicit.)

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

/// The most items one page may hold, in every list method.
pub const MAX_PAGE_SIZE: i32 = 1000;

/// A requested `page_size` as AIP-158 reads it: 0 means `default`, more
/// than [`MAX_PAGE_SIZE`] is lowered to it, a negative size is refused
/// (naming the field `page_size`).
pub fn page_size(requested: i32, default: i32) -> Result<u64, crate::validation::Invalid> {
    match requested {
        n if n < 0 => Err(crate::validation::Invalid::new("page_size", "must not be negative")),
        0 => Ok(u64::from(default.unsigned_abs())),
        n => Ok(u64::from(n.min(MAX_PAGE_SIZE).unsigned_abs())),
    }
}

/// Where the next page starts: the sort values and id of the last item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    /// One value per `order_by` key, in order; text keys as strings.
    pub keys: Vec<KeyValue>,
    pub id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum KeyValue {
    Int(i64),
    Text(String),
}

#[derive(Serialize, Deserialize)]
struct Payload {
    /// Query fingerprint.
    q: String,
    p: Position,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the page token is malformed or was not issued by this server")]
    Malformed,
    #[error(
        "the page token belongs to a different query; keep filter, order_by and show_deleted the same across pages"
    )]
    QueryMismatch,
}

/// Signs and checks tokens with one secret.
#[derive(Clone)]
pub struct PageTokens {
    /// Keyed once; cloned per use (cheap).
    mac: HmacSha256,
}

impl PageTokens {
    pub fn new(secret: &[u8]) -> Result<Self, hmac::digest::InvalidLength> {
        Ok(Self { mac: HmacSha256::new_from_slice(secret)? })
    }

    /// A fingerprint of everything that must stay the same across pages.
    pub fn fingerprint(parts: &[&str]) -> String {
        let mut hasher = Sha256::new();
        for part in parts {
            hasher.update((part.len() as u64).to_be_bytes());
            hasher.update(part.as_bytes());
        }
        URL_SAFE_NO_PAD.encode(&hasher.finalize()[..16])
    }

    pub fn issue(&self, fingerprint: &str, position: Position) -> String {
        let payload = Payload { q: fingerprint.to_owned(), p: position };
        let body = serde_json::to_vec(&payload).unwrap_or_default();
        let mut token = URL_SAFE_NO_PAD.encode(&body);
        token.push('.');
        token.push_str(&URL_SAFE_NO_PAD.encode(self.sign(&body)));
        token
    }

    pub fn open(&self, token: &str, fingerprint: &str) -> Result<Position, TokenError> {
        let (body, signature) = token.split_once('.').ok_or(TokenError::Malformed)?;
        let body = URL_SAFE_NO_PAD.decode(body).map_err(|_| TokenError::Malformed)?;
        let signature = URL_SAFE_NO_PAD.decode(signature).map_err(|_| TokenError::Malformed)?;
        let mut mac = self.mac();
        mac.update(&body);
        mac.verify_slice(&signature).map_err(|_| TokenError::Malformed)?;
        let payload: Payload = serde_json::from_slice(&body).map_err(|_| TokenError::Malformed)?;
        if payload.q != fingerprint {
            return Err(TokenError::QueryMismatch);
        }
        Ok(payload.p)
    }

    fn mac(&self) -> HmacSha256 {
        self.mac.clone()
    }

    fn sign(&self, body: &[u8]) -> Vec<u8> {
        let mut mac = self.mac();
        mac.update(body);
        mac.finalize().into_bytes().to_vec()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn position() -> Position {
        Position { keys: vec![KeyValue::Int(42), KeyValue::Text("b".into())], id: "x".into() }
    }

    #[test]
    fn a_token_round_trips_under_the_same_query() {
        let tokens = PageTokens::new(b"secret").unwrap();
        let fp = PageTokens::fingerprint(&["alice", "state = OPEN"]);
        let token = tokens.issue(&fp, position());
        assert_eq!(tokens.open(&token, &fp).unwrap(), position());
    }

    #[test]
    fn a_token_for_another_user_or_query_is_rejected() {
        let tokens = PageTokens::new(b"secret").unwrap();
        let token = tokens.issue(&PageTokens::fingerprint(&["alice", ""]), position());
        assert_eq!(tokens.open(&token, &PageTokens::fingerprint(&["bob", ""])), Err(TokenError::QueryMismatch));
    }

    #[test]
    fn a_tampered_or_foreign_token_is_rejected() {
        let tokens = PageTokens::new(b"secret").unwrap();
        let fp = PageTokens::fingerprint(&["alice"]);
        let token = tokens.issue(&fp, position());
        let (body, sig) = token.split_once('.').unwrap();
        let forged_body = URL_SAFE_NO_PAD.encode(br#"{"q":"x","p":{"keys":[],"id":"y"}}"#);
        assert_eq!(tokens.open(&format!("{forged_body}.{sig}"), &fp), Err(TokenError::Malformed));
        assert_eq!(PageTokens::new(b"other").unwrap().open(&token, &fp), Err(TokenError::Malformed));
        assert_eq!(tokens.open(body, &fp), Err(TokenError::Malformed));
        assert_eq!(tokens.open("garbage", &fp), Err(TokenError::Malformed));
    }

    #[test]
    fn page_sizes_follow_aip_158() {
        assert_eq!(page_size(0, 50), Ok(50));
        assert_eq!(page_size(7, 50), Ok(7));
        assert_eq!(page_size(5000, 50), Ok(1000));
        assert_eq!(page_size(-1, 50).map_err(|e| e.field), Err("page_size".to_owned()));
    }
}
