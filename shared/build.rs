//! Compiles `proto/` with `protox` (pure Rust, so no system `protoc` is
//! needed) and writes the descriptor set that server reflection serves.

use std::{env, fs, path::PathBuf};

const PROTOS: &[&str] = &[
    "todo/task/v1/task.proto",
    "todo/task/v1/events.proto",
    "todo/task/v1/internal.proto",
    "todo/audit/v1/audit.proto",
    "todo/sync/v1/sync.proto",
    "todo/reminder/v1/events.proto",
    "todo/notification/v1/notification.proto",
    // Only so reflection clients can decode error details; code uses tonic-types.
    "google/rpc/error_details.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto_root = PathBuf::from("../proto");
    println!("cargo:rerun-if-changed={}", proto_root.display());

    let mut compiler = protox::Compiler::new([&proto_root])?;
    compiler.include_imports(true).include_source_info(true);
    compiler.open_files(PROTOS)?;
    let descriptors = compiler.file_descriptor_set();

    let out_dir = PathBuf::from(env::var("OUT_DIR")?);
    // `compile_fds` does not write the set, and reflection needs it encoded.
    // protox's own encoding keeps custom options such as
    // `google.api.field_behavior` (prost_types' FieldOptions drops them),
    // which `shared::proto::output_only_fields` reads.
    fs::write(out_dir.join("descriptor.bin"), compiler.encode_file_descriptor_set())?;

    // Type names (`prost::Name`) let the proto-JSON codec find each
    // message's descriptor at run time.
    let mut config = prost_build::Config::new();
    config.enable_type_names();
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds_with_config(descriptors, config)?;
    Ok(())
}
