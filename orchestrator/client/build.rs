//! Generates the gRPC client and server from proto/berth.proto (needs
//! protoc: Debian protobuf-compiler, installed by `cargo xtask setup`).

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto/berth.proto");
    tonic_prost_build::configure().compile_protos(&["proto/berth.proto"], &["proto"])?;
    Ok(())
}
