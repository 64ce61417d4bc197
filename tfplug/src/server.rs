//! Serving: the unix socket, AutoMTLS, the go-plugin side services (health, controller, stdio),
//! and the debug mode that Terraform attaches to with `TF_REATTACH_PROVIDERS`.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{UnixListener, UnixStream};
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;
use tonic::transport::server::Connected;
use tonic::{Request, Response, Status};

use super::handshake::{self, HandshakeEnv, HandshakeError};
use super::proto::plugin as gp;
use super::proto::tfplugin6::provider_server::ProviderServer;
use super::resource::Provider;
use super::service::ProviderService;

/// gRPC message size limit in both directions (Terraform's own limit).
pub const MAX_MESSAGE_BYTES: usize = 256 << 20;

/// How to serve.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Serve for `TF_REATTACH_PROVIDERS` instead of being started by Terraform.
    pub debug: bool,
    /// The provider's source address, printed in debug mode (e.g. `registry.terraform.io/mlops/mlops`).
    pub address: String,
}

/// Why serving failed.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Handshake(#[from] HandshakeError),
    #[error("could not listen on {path}: {source}")]
    Listen { path: PathBuf, source: std::io::Error },
    #[error("could not set up TLS: {0}")]
    Tls(String),
    #[error("gRPC server failed: {0}")]
    Transport(#[from] tonic::transport::Error),
}

/// The gRPC service for a provider, with the size limits Terraform uses. `stop` is cancelled on
/// StopProvider. Used by [`serve`] and by in-memory tests.
pub fn provider_service<P: Provider>(provider: P, stop: CancellationToken) -> ProviderServer<ProviderService<P>> {
    ProviderServer::new(ProviderService::new(provider, stop))
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES)
}

/// Runs the plugin until Terraform shuts it down.
pub async fn serve<P: Provider>(provider: P, opts: ServeOptions) -> Result<(), ServeError> {
    let env = HandshakeEnv::from_process();
    let negotiated = if opts.debug { None } else { Some(handshake::negotiate(&env)?) };

    let socket = socket_path(env.unix_socket_dir.as_deref());
    let listener = UnixListener::bind(&socket).map_err(|source| ServeError::Listen { path: socket.clone(), source })?;
    let _cleanup = RemoveOnDrop(socket.clone());

    let shutdown = CancellationToken::new();
    let stop = CancellationToken::new();

    // AutoMTLS when Terraform sent its certificate; plain when reattached for debugging.
    let (acceptor, server_cert) = match negotiated.as_ref().and_then(|n| n.client_cert_der.clone()) {
        Some(client_der) => {
            let cert = handshake::generate_server_cert().map_err(|e| ServeError::Tls(e.to_string()))?;
            let config = super::tls::server_config(cert.cert_der.clone(), cert.key_pkcs8_der, client_der)
                .map_err(|e| ServeError::Tls(e.to_string()))?;
            (Some(TlsAcceptor::from(Arc::new(config))), Some(cert.cert_der))
        }
        None => (None, None),
    };
    let incoming = accept_loop(listener, acceptor, shutdown.clone());

    let (health_reporter, health_service) = tonic_health::server::health_reporter();
    health_reporter.set_service_status("plugin", tonic_health::ServingStatus::Serving).await;

    let controller = Controller { shutdown: shutdown.clone(), debug: opts.debug };
    let stdio = Stdio { shutdown: shutdown.clone() };

    if opts.debug {
        print_reattach(&opts.address, &socket);
        let token = shutdown.clone();
        tokio::spawn(async move {
            let _ = tokio::signal::ctrl_c().await;
            token.cancel();
        });
    } else {
        // Terraform forwards Ctrl-C as StopProvider; the signal itself must not kill us.
        ignore_sigint();
        exit_with_parent(shutdown.clone());
        exit_when_stdout_closes(shutdown.clone());
        let line = handshake::handshake_line(&socket, server_cert.as_deref());
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    }
    tracing::debug!("plugin serving on {}", socket.display());

    let router = tonic::transport::Server::builder()
        .add_service(health_service)
        .add_service(gp::grpc_controller_server::GrpcControllerServer::new(controller))
        .add_service(gp::grpc_stdio_server::GrpcStdioServer::new(stdio))
        .add_service(provider_service(provider, stop.clone()));
    let done = shutdown.clone();
    router.serve_with_incoming_shutdown(incoming, async move { done.cancelled().await }).await?;
    stop.cancel();
    Ok(())
}

fn socket_path(dir: Option<&str>) -> PathBuf {
    let dir = dir.map(PathBuf::from).unwrap_or_else(std::env::temp_dir);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().subsec_nanos();
    dir.join(format!("plugin{}-{nanos}", std::process::id()))
}

struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn ignore_sigint() {
    use tokio::signal::unix::{signal, SignalKind};
    if let Ok(mut sig) = signal(SignalKind::interrupt()) {
        tokio::spawn(async move {
            while sig.recv().await.is_some() {
                tracing::debug!("SIGINT ignored; waiting for StopProvider from Terraform");
            }
        });
    }
}

/// Stops serving when Terraform goes away without shutting us down (killed, or exited on a
/// signal before cleaning up its plugins): the parent process changes once it is gone.
fn exit_with_parent(shutdown: CancellationToken) {
    let parent = std::os::unix::process::parent_id();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_millis(500)).await;
            if std::os::unix::process::parent_id() != parent {
                tracing::warn!("Terraform is gone: shutting down");
                shutdown.cancel();
                // Give in-flight calls a moment, then make sure the process ends.
                tokio::time::sleep(Duration::from_secs(2)).await;
                std::process::exit(0);
            }
        }
    });
}

/// Stops serving the moment Terraform's end of our stdout pipe closes (Terraform exited or was
/// killed): the kernel reports an error condition on a pipe's write end once no reader is left.
/// When stdout cannot be watched (a file, `/dev/null`), [`exit_with_parent`] remains.
fn exit_when_stdout_closes(shutdown: CancellationToken) {
    use std::os::fd::AsFd as _;
    use tokio::io::unix::AsyncFd;
    use tokio::io::Interest;
    let Ok(fd) = std::io::stdout().as_fd().try_clone_to_owned() else { return };
    // `with_interest` is deprecated because a borrowed fd could be closed while registered; this
    // one is an `OwnedFd` the `AsyncFd` owns, so it lives exactly as long as the registration.
    // (The replacement is an `unsafe fn`, and this crate forbids unsafe code.)
    #[allow(deprecated)]
    let Ok(watch) = AsyncFd::with_interest(fd, Interest::ERROR) else {
        return;
    };
    tokio::spawn(async move {
        if watch.ready(Interest::ERROR).await.is_ok() {
            tracing::warn!("Terraform closed the plugin's stdout: shutting down");
            shutdown.cancel();
        }
    });
}

fn print_reattach(address: &str, socket: &Path) {
    let reattach = serde_json::json!({
        address: {
            "Protocol": "grpc",
            "ProtocolVersion": handshake::APP_PROTOCOL_VERSION,
            "Pid": std::process::id(),
            "Test": true,
            "Addr": { "Network": "unix", "String": socket.display().to_string() }
        }
    });
    // A closed stdout (e.g. piped into `head`) must not take the provider down: no println!.
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "Provider started in debug mode. To attach Terraform, run in another shell:\n");
    let _ = writeln!(out, "    export TF_REATTACH_PROVIDERS='{reattach}'\n");
    let _ = writeln!(out, "Press Ctrl-C to stop the provider.");
    let _ = out.flush();
}

/// Accepts connections; with TLS, finishes each handshake off the accept path and drops peers
/// that fail it (such as a client presenting a certificate other than the pinned one).
fn accept_loop(
    listener: UnixListener,
    acceptor: Option<TlsAcceptor>,
    shutdown: CancellationToken,
) -> ReceiverStream<Result<Conn, std::io::Error>> {
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    tokio::spawn(async move {
        loop {
            let stream = tokio::select! {
                _ = shutdown.cancelled() => break,
                r = listener.accept() => match r {
                    Ok((s, _)) => s,
                    Err(e) => { tracing::warn!("accept failed: {e}"); continue; }
                },
            };
            let tx = tx.clone();
            match acceptor.clone() {
                None => {
                    let _ = tx.send(Ok(Conn::Plain(stream))).await;
                }
                Some(acceptor) => {
                    tokio::spawn(async move {
                        match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream)).await {
                            Ok(Ok(tls)) => {
                                let _ = tx.send(Ok(Conn::Tls(Box::new(tls)))).await;
                            }
                            Ok(Err(e)) => tracing::warn!("refused a connection: TLS handshake failed: {e}"),
                            Err(_) => tracing::warn!("refused a connection: TLS handshake timed out"),
                        }
                    });
                }
            }
        }
    });
    ReceiverStream::new(rx)
}

/// One accepted connection, with or without TLS.
pub enum Conn {
    Plain(UnixStream),
    Tls(Box<TlsStream<UnixStream>>),
}

impl Connected for Conn {
    type ConnectInfo = ();
    fn connect_info(&self) -> Self::ConnectInfo {}
}

impl AsyncRead for Conn {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_flush(cx),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// `plugin.GRPCController`: Shutdown ends the process (ignored in debug mode, where the
/// developer stops the provider).
struct Controller {
    shutdown: CancellationToken,
    debug: bool,
}

#[tonic::async_trait]
impl gp::grpc_controller_server::GrpcController for Controller {
    async fn shutdown(&self, _req: Request<gp::Empty>) -> Result<Response<gp::Empty>, Status> {
        if !self.debug {
            // Stop serving now: the graceful shutdown still finishes this answer (in flight),
            // and the process ends as soon as Terraform closes the connection.
            self.shutdown.cancel();
        }
        Ok(Response::new(gp::Empty {}))
    }
}

/// `plugin.GRPCStdio`: we never write to stdout after the handshake, so the stream stays
/// silent and ends at shutdown.
struct Stdio {
    shutdown: CancellationToken,
}

type StdioStream = Pin<Box<dyn futures::Stream<Item = Result<gp::StdioData, Status>> + Send>>;

#[tonic::async_trait]
impl gp::grpc_stdio_server::GrpcStdio for Stdio {
    type StreamStdioStream = StdioStream;

    async fn stream_stdio(&self, _req: Request<()>) -> Result<Response<Self::StreamStdioStream>, Status> {
        use futures::StreamExt as _;
        let token = self.shutdown.clone();
        let stream = futures::stream::once(async move { token.cancelled().await })
            .filter_map(|_| async { None::<Result<gp::StdioData, Status>> });
        Ok(Response::new(Box::pin(stream)))
    }
}
