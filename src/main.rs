//! terraform-provider-mlops: started by Terraform (go-plugin handshake), or by hand with
//! `--debug` to attach Terraform through `TF_REATTACH_PROVIDERS`.

use std::process::ExitCode;

use mlops::provider::{MlopsProvider, ADDRESS};
use tfplug::server::{serve, ServeError, ServeOptions};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--version" || a == "-v") {
        println!("terraform-provider-mlops {}", env!("CARGO_PKG_VERSION"));
        return ExitCode::SUCCESS;
    }
    let debug = args.iter().any(|a| a == "--debug");
    if let Some(unknown) = args.iter().find(|a| !matches!(a.as_str(), "--debug")) {
        eprintln!("unknown argument {unknown:?}; usage: terraform-provider-mlops [--debug | --version]");
        return ExitCode::from(2);
    }
    // Logs: hclog JSON lines on stderr, which Terraform re-logs under TF_LOG.
    tfplug::log::install("mlops");
    // One TLS crypto provider for the whole process (the Docker TLS client asks for the default).
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("could not start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let opts = ServeOptions { debug, address: ADDRESS.to_string() };
    match runtime.block_on(serve(MlopsProvider, opts)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(ServeError::Handshake(e)) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("terraform-provider-mlops: {e}");
            ExitCode::FAILURE
        }
    }
}
