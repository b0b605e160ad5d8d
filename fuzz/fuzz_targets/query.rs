//! The AIP-160 filter and the order_by grammar of ListTasks, on any text:
//! a parse either succeeds or returns an error, never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use task::domain::query::{parse_filter, parse_order_by};

fuzz_target!(|input: &str| {
    let _ = parse_filter(input);
    let _ = parse_order_by(input);
});
