//! Recurrence rules as the API receives them (any protobuf bytes read as a
//! `RecurrenceRule`) and cron expressions (any text): validation accepts
//! or names a field, and a valid rule's occurrences can be walked, without
//! a panic.
#![no_main]

use chrono::NaiveDate;
use libfuzzer_sys::fuzz_target;
use prost::Message;
use shared::{
    proto::todo::task::v1 as pb,
    recurrence::{End, MissingDatePolicy, Pattern, Rule},
};

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else { return };
    let start = NaiveDate::from_ymd_opt(2026, 1, 31).and_then(|d| d.and_hms_opt(9, 0, 0));
    if selector % 2 == 0 {
        let Ok(rule) = pb::RecurrenceRule::decode(rest) else { return };
        if let Ok(Some(spec)) = shared::recurrence::wire::parse_recurrence(Some(&rule))
            && let (Ok(rule), Some(start)) = (spec.rule(None), start)
        {
            let _ = rule.occurrences(start).take(50).count();
        }
    } else if let Ok(expression) = std::str::from_utf8(rest) {
        let rule = Rule::new(Pattern::Cron(expression.to_owned()), End::Count(20), chrono_tz::UTC, MissingDatePolicy::Skip);
        if let (Ok(rule), Some(start)) = (rule, start) {
            let _ = rule.occurrences(start).count();
        }
    }
});
