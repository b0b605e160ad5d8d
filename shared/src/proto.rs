//! Code generated from `proto/` at build time (see `build.rs`).

/// `todo.task.v1`: the task API and its events.
#[allow(clippy::all)] // generated code
pub mod todo {
    pub mod task {
        pub mod v1 {
            tonic::include_proto!("todo.task.v1");
        }
    }
    /// `todo.sync.v1`: the real-time sync stream.
    pub mod sync {
        pub mod v1 {
            tonic::include_proto!("todo.sync.v1");
        }
    }
    /// `todo.audit.v1`: the audit log's API.
    pub mod audit {
        pub mod v1 {
            tonic::include_proto!("todo.audit.v1");
        }
    }
    /// `todo.reminder.v1`: the `reminder.due` event (and reminder jobs' data).
    pub mod reminder {
        pub mod v1 {
            tonic::include_proto!("todo.reminder.v1");
        }
    }
    /// `todo.notification.v1`: notification preferences and the delivery log.
    pub mod notification {
        pub mod v1 {
            tonic::include_proto!("todo.notification.v1");
        }
    }
}

/// `google.api` (the AIP-203 field behaviour annotation) and `google.rpc`
/// (error details, generated only to be in the descriptor set; code uses
/// `tonic_types`).
#[allow(clippy::all)] // generated code
pub mod google {
    pub mod api {
        tonic::include_proto!("google.api");
    }
    pub mod rpc {
        tonic::include_proto!("google.rpc");
    }
}

/// Every compiled file and its imports, encoded, for server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/descriptor.bin"));

/// The fields of message `M` marked `(google.api.field_behavior) =
/// OUTPUT_ONLY` in the protos, by name: the server sets them, and an update
/// mask that names one is not asking for a change (AIP-203).
pub fn output_only_fields<M: prost::Name>() -> Vec<String> {
    use prost_reflect::{DescriptorPool, Value};
    /// `google.api.FieldBehavior.OUTPUT_ONLY`.
    const OUTPUT_ONLY: i32 = 3;
    let Ok(pool) = DescriptorPool::decode(FILE_DESCRIPTOR_SET) else { return Vec::new() };
    let (Some(message), Some(behavior)) =
        (pool.get_message_by_name(&M::full_name()), pool.get_extension_by_name("google.api.field_behavior"))
    else {
        return Vec::new();
    };
    message
        .fields()
        .filter(|field| match &*field.options().get_extension(&behavior) {
            Value::List(values) => values.iter().any(|v| v.as_enum_number() == Some(OUTPUT_ONLY)),
            _ => false,
        })
        .map(|field| field.name().to_owned())
        .collect()
}

/// Proto3 JSON (the canonical mapping: camelCase names, enums by name,
/// 64-bit integers as strings so no JSON parser loses precision), through
/// the descriptors of [`FILE_DESCRIPTOR_SET`]. Events travel in this form.
pub mod json {
    use std::sync::LazyLock;

    use prost::{Message, Name};
    use prost_reflect::{DescriptorPool, DeserializeOptions, DynamicMessage, SerializeOptions};

    static POOL: LazyLock<Result<DescriptorPool, String>> =
        LazyLock::new(|| DescriptorPool::decode(super::FILE_DESCRIPTOR_SET).map_err(|e| e.to_string()));

    #[derive(Debug, thiserror::Error)]
    pub enum JsonError {
        #[error("no descriptor for {0}")]
        UnknownMessage(String),
        #[error("not valid proto3 JSON for {message}: {reason}")]
        Invalid { message: String, reason: String },
    }

    fn descriptor<M: Name>() -> Result<prost_reflect::MessageDescriptor, JsonError> {
        let name = M::full_name();
        POOL.as_ref().ok().and_then(|pool| pool.get_message_by_name(&name)).ok_or(JsonError::UnknownMessage(name))
    }

    /// The message of type `M` that `encoded` holds, for serialising by
    /// descriptor.
    fn dynamic<M: Name>(encoded: &[u8]) -> Result<DynamicMessage, JsonError> {
        DynamicMessage::decode(descriptor::<M>()?, encoded)
            .map_err(|e| JsonError::Invalid { message: M::full_name(), reason: e.to_string() })
    }

    /// `message` as proto3 JSON.
    pub fn to_value<M: Message + Name>(message: &M) -> Result<serde_json::Value, JsonError> {
        dynamic::<M>(&message.encode_to_vec())?
            .serialize_with_options(serde_json::value::Serializer, &SerializeOptions::new())
            .map_err(|e| JsonError::Invalid { message: M::full_name(), reason: e.to_string() })
    }

    /// `message` as proto3 JSON text, kept as it is: what an event's `data`
    /// is stored and published as.
    pub fn to_raw<M: Message + Name>(message: &M) -> Result<Box<serde_json::value::RawValue>, JsonError> {
        encoded_to_raw::<M>(&message.encode_to_vec())
    }

    /// As [`to_raw`], from the message already protobuf-encoded (as stored):
    /// no second encoding. Bytes that are not an `M` are an error.
    pub fn encoded_to_raw<M: Name>(encoded: &[u8]) -> Result<Box<serde_json::value::RawValue>, JsonError> {
        let invalid = |reason: String| JsonError::Invalid { message: M::full_name(), reason };
        let mut text = Vec::new();
        dynamic::<M>(encoded)?
            .serialize_with_options(&mut serde_json::Serializer::new(&mut text), &SerializeOptions::new())
            .map_err(|e| invalid(e.to_string()))?;
        let text = String::from_utf8(text).map_err(|e| invalid(e.to_string()))?;
        serde_json::value::RawValue::from_string(text).map_err(|e| invalid(e.to_string()))
    }

    /// Parses proto3 JSON, ignoring fields this build does not know (so
    /// newer producers do not break older consumers).
    pub fn from_slice<M: Message + Name + Default>(json: &[u8]) -> Result<M, JsonError> {
        let invalid = |reason: String| JsonError::Invalid { message: M::full_name(), reason };
        let mut deserializer = serde_json::Deserializer::from_slice(json);
        let options = DeserializeOptions::new().deny_unknown_fields(false);
        let dynamic = DynamicMessage::deserialize_with_options(descriptor::<M>()?, &mut deserializer, &options)
            .map_err(|e| invalid(e.to_string()))?;
        dynamic.transcode_to::<M>().map_err(|e| invalid(e.to_string()))
    }
}

/// `google.protobuf.Timestamp` to and from `chrono`, one way for every service.
pub mod time {
    use chrono::{DateTime, Utc};
    use prost_types::Timestamp;

    /// `t` as a protobuf timestamp.
    pub fn timestamp(t: DateTime<Utc>) -> Timestamp {
        // Sub-second nanos are below 2e9 (a leap second at most), so they fit.
        Timestamp { seconds: t.timestamp(), nanos: i32::try_from(t.timestamp_subsec_nanos()).unwrap_or(0) }
    }

    /// Microseconds since the Unix epoch (how the stores keep times) as a
    /// protobuf timestamp; before 1970 too.
    pub fn timestamp_from_micros(micros: i64) -> Timestamp {
        Timestamp {
            seconds: micros.div_euclid(1_000_000),
            nanos: i32::try_from(micros.rem_euclid(1_000_000) * 1000).unwrap_or(0),
        }
    }

    /// The instant of `t`; None when it is out of range or its nanos are negative.
    pub fn date_time(t: &Timestamp) -> Option<DateTime<Utc>> {
        DateTime::from_timestamp(t.seconds, u32::try_from(t.nanos).ok()?)
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn round_trips_and_micros_before_the_epoch() {
            let t = DateTime::from_timestamp(1_700_000_000, 123_456_000).unwrap_or_default();
            assert_eq!(date_time(&timestamp(t)), Some(t));
            assert_eq!(timestamp_from_micros(-1), Timestamp { seconds: -1, nanos: 999_999_000 });
            assert_eq!(timestamp_from_micros(1_500_000), Timestamp { seconds: 1, nanos: 500_000_000 });
            assert_eq!(date_time(&Timestamp { seconds: 0, nanos: -1 }), None);
        }
    }
}

#[cfg(test)]
mod output_only_tests {
    #![allow(clippy::unwrap_used)]

    #[test]
    fn the_fields_the_server_sets_are_read_from_the_annotations() {
        let fields = super::output_only_fields::<super::todo::task::v1::Task>();
        assert_eq!(
            fields,
            [
                "name",
                "state",
                "create_time",
                "update_time",
                "complete_time",
                "delete_time",
                "etag",
                "revision",
                "series_id",
                "occurrence_index"
            ]
        );
    }
}
