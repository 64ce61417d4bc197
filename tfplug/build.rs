//! Compiles the repository's `proto/` into Rust with tonic, using protox so no system `protoc` is needed.

use std::error::Error;

fn main() -> Result<(), Box<dyn Error>> {
    let files = ["../proto/tfplugin6.proto", "../proto/grpc_controller.proto", "../proto/grpc_stdio.proto"];
    for f in &files {
        println!("cargo:rerun-if-changed={f}");
    }
    let descriptors = protox::compile(files, ["../proto"])?;
    tonic_prost_build::configure().build_client(true).build_server(true).compile_fds(descriptors)?;
    Ok(())
}
