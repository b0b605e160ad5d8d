//! Page tokens as clients send them back: any string opens to a position
//! or to an error, never a panic, and only a token the server signed opens.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use shared::page_token::PageTokens;

static TOKENS: LazyLock<Option<PageTokens>> = LazyLock::new(|| PageTokens::new(b"fuzzing-page-token-secret").ok());

fuzz_target!(|token: &str| {
    if let Some(tokens) = TOKENS.as_ref() {
        let _ = tokens.open(token, &PageTokens::fingerprint(&["alice", "state = OPEN"]));
    }
});
