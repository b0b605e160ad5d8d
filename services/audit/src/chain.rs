//! The hash chain. An entry's hash is SHA-256 over the previous entry's
//! hash and every recorded field, each length-prefixed so that no two
//! different entries can serialise to the same bytes.

use sha2::{Digest, Sha256};

/// The fields an entry's hash covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link<'a> {
    pub previous_hash: &'a str,
    pub user_id: &'a str,
    pub sequence: i64,
    pub event_id: &'a str,
    pub event_type: &'a str,
    pub task_id: &'a str,
    pub revision: i64,
    pub occur_time: i64,
    pub event_json: &'a str,
}

impl Link<'_> {
    /// Lower-case hex SHA-256.
    pub fn hash(&self) -> String {
        let mut hasher = Sha256::new();
        let mut field = |bytes: &[u8]| {
            hasher.update((bytes.len() as u64).to_be_bytes());
            hasher.update(bytes);
        };
        field(self.previous_hash.as_bytes());
        field(self.user_id.as_bytes());
        field(&self.sequence.to_be_bytes());
        field(self.event_id.as_bytes());
        field(self.event_type.as_bytes());
        field(self.task_id.as_bytes());
        field(&self.revision.to_be_bytes());
        field(&self.occur_time.to_be_bytes());
        field(self.event_json.as_bytes());
        hasher.finalize().iter().map(|b| format!("{b:02x}")).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link() -> Link<'static> {
        Link {
            previous_hash: "",
            user_id: "alice",
            sequence: 1,
            event_id: "e1",
            event_type: "todo.task.created.v1",
            task_id: "t1",
            revision: 1,
            occur_time: 1_700_000_000_000_000,
            event_json: "{}",
        }
    }

    #[test]
    fn every_field_and_the_previous_hash_change_the_hash() {
        let base = link().hash();
        assert_eq!(base.len(), 64);
        assert_eq!(base, link().hash(), "deterministic");
        let variants = [
            Link { previous_hash: "00", ..link() },
            Link { user_id: "bob", ..link() },
            Link { sequence: 2, ..link() },
            Link { event_id: "e2", ..link() },
            Link { event_type: "todo.task.deleted.v1", ..link() },
            Link { task_id: "t2", ..link() },
            Link { revision: 2, ..link() },
            Link { occur_time: 1, ..link() },
            Link { event_json: "{\"a\":1}", ..link() },
        ];
        for variant in variants {
            assert_ne!(variant.hash(), base, "{variant:?}");
        }
        // Length prefixes: moving a byte between fields changes the hash.
        assert_ne!(
            Link { user_id: "alicee", event_id: "1", ..link() }.hash(),
            Link { event_id: "e1", ..link() }.hash()
        );
    }
}
