//! Code generated from `proto/` at build time (see `build.rs`).

/// `todo.task.v1`: the task API and its events.
pub mod todo {
    pub mod task {
        pub mod v1 {
            tonic::include_proto!("todo.task.v1");
        }
    }
}

/// `google.api` (the AIP-203 field behaviour annotation) and `google.rpc`
/// (error details, generated only to be in the descriptor set; code uses
/// `tonic_types`).
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
