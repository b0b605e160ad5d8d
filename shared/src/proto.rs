//! Code generated from `proto/` at build time (see `build.rs`).

/// `todo.task.v1`: the task API and its events.
pub mod todo {
    pub mod task {
        pub mod v1 {
            tonic::include_proto!("todo.task.v1");
        }
    }
}

/// `google.api`: the AIP-203 field behaviour annotation.
pub mod google {
    pub mod api {
        tonic::include_proto!("google.api");
    }
}

/// Every compiled file and its imports, encoded, for server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/descriptor.bin"));
