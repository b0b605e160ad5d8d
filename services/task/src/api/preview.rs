//! PreviewOccurrences: the next dates a rule yields, computed, not stored.

use chrono::{NaiveDateTime, NaiveTime};
use shared::proto::todo::task::v1 as pb;

use crate::{
    convert,
    domain::due::Due,
    error::{Error, Result},
};

pub const DEFAULT_COUNT: i32 = 10;
pub const MAX_COUNT: i32 = 500;

pub fn preview(request: &pb::PreviewOccurrencesRequest) -> Result<pb::PreviewOccurrencesResponse> {
    let rule = request.rule.as_ref().ok_or_else(|| Error::invalid("MISSING_FIELD", "rule", "is required"))?;
    let spec = convert::parse_rule(rule).map_err(|e| Error::from_invalid("INVALID_RULE", "rule", e))?;
    let rule = spec.rule(None).map_err(|e| Error::from_invalid("INVALID_RULE", "rule", e))?;
    let start = parse_start(&request.start)?;
    let count = match request.count {
        0 => DEFAULT_COUNT,
        n if !(1..=MAX_COUNT).contains(&n) => {
            return Err(Error::invalid("INVALID_COUNT", "count", format!("must be between 1 and {MAX_COUNT}")));
        }
        n => n,
    };
    let occurrences = rule
        .preview(start, count as usize)
        .into_iter()
        .map(|o| pb::Occurrence {
            index: o.index.min(i32::MAX as u32) as i32,
            local_time: o.local.format("%Y-%m-%dT%H:%M:%S").to_string(),
            time: Some(shared::proto::time::timestamp(o.instant)),
        })
        .collect();
    Ok(pb::PreviewOccurrencesResponse { occurrences })
}

fn parse_start(raw: &str) -> Result<NaiveDateTime> {
    if raw.trim().is_empty() {
        return Err(Error::invalid("MISSING_FIELD", "start", "is required"));
    }
    Due::parse_local(raw)
        .or_else(|_| Due::parse_date(raw).map(|d| d.and_time(NaiveTime::MIN)))
        .map_err(|_| Error::invalid("INVALID_START", "start", "must be YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS]"))
}
