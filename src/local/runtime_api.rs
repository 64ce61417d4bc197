//! The Lambda Runtime API one execution environment talks to (FACTS.md, "Lambda Runtime API"):
//! `GET …/invocation/next` long-polls for the next event, `POST …/invocation/{id}/response|error`
//! answers it, `POST …/runtime/init/error` reports a failed init. Each sandbox gets its own
//! listener on 127.0.0.1, so a container only ever sees its own invocations.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;

/// Largest response Lambda accepts: 6 MiB plus 100 bytes of framing.
pub const MAX_RESPONSE_BYTES: usize = 6 * 1024 * 1024 + 100;
const PREFIX: &str = "/2018-06-01/runtime";

/// One invocation waiting for the runtime to fetch it.
#[derive(Debug)]
pub struct Pending {
    pub request_id: String,
    pub payload: Bytes,
    /// Lambda-Runtime-Deadline-Ms: Unix epoch milliseconds.
    pub deadline_ms: u64,
    pub function_arn: String,
    pub trace_id: String,
    pub reply: oneshot::Sender<Reply>,
}

/// How the runtime answered.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    Response(Bytes),
    /// `…/error`: the error type (header or body `errorType`) and the error document.
    Error {
        error_type: String,
        body: Bytes,
    },
}

struct Shared {
    queue: tokio::sync::Mutex<mpsc::Receiver<Pending>>,
    inflight: Mutex<HashMap<String, oneshot::Sender<Reply>>>,
    init_error: watch::Sender<Option<Reply>>,
    /// Set when the runtime asked for its first event: init is over.
    first_next: watch::Sender<bool>,
    stop: CancellationToken,
}

/// A running Runtime API endpoint.
pub struct RuntimeApi {
    pub addr: SocketAddr,
    queue: mpsc::Sender<Pending>,
    shared: Arc<Shared>,
}

impl RuntimeApi {
    /// Listens on 127.0.0.1 (a free port) until `stop` is cancelled.
    pub async fn start(stop: CancellationToken) -> std::io::Result<RuntimeApi> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let (tx, rx) = mpsc::channel(1);
        let shared = Arc::new(Shared {
            queue: tokio::sync::Mutex::new(rx),
            inflight: Mutex::new(HashMap::new()),
            init_error: watch::channel(None).0,
            first_next: watch::channel(false).0,
            stop,
        });
        let accept = shared.clone();
        tokio::spawn(async move {
            loop {
                let conn = tokio::select! {
                    _ = accept.stop.cancelled() => break,
                    c = listener.accept() => c,
                };
                let Ok((stream, _)) = conn else { continue };
                // Without this, each small response waits for the peer's delayed ACK (+40–80 ms).
                let _ = stream.set_nodelay(true);
                let shared = accept.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req| handle(shared.clone(), req));
                    let conn =
                        hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service);
                    let _ = conn.await;
                });
            }
        });
        Ok(RuntimeApi { addr, queue: tx, shared })
    }

    /// Queues an invocation for the runtime's next `next`.
    pub async fn submit(&self, pending: Pending) -> Result<(), Pending> {
        self.queue.send(pending).await.map_err(|e| e.0)
    }

    /// Fires when the runtime reports an init error.
    pub fn init_error(&self) -> watch::Receiver<Option<Reply>> {
        self.shared.init_error.subscribe()
    }

    /// Becomes true once the runtime has asked for its first event (init finished).
    pub fn initialised(&self) -> watch::Receiver<bool> {
        self.shared.first_next.subscribe()
    }

    /// Forgets an invocation the caller gave up on (timeout): a late answer gets 400.
    pub fn abandon(&self, request_id: &str) {
        self.shared.inflight.lock().unwrap_or_else(|p| p.into_inner()).remove(request_id);
    }
}

type Body = Full<Bytes>;

fn reply(status: StatusCode, body: &str) -> Response<Body> {
    let mut r = Response::new(Full::new(Bytes::from(body.to_string())));
    *r.status_mut() = status;
    r.headers_mut().insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
    r
}

fn error_doc(status: StatusCode, error_type: &str, message: &str) -> Response<Body> {
    reply(status, &serde_json::json!({ "errorMessage": message, "errorType": error_type }).to_string())
}

async fn handle(shared: Arc<Shared>, req: Request<Incoming>) -> Result<Response<Body>, Infallible> {
    let path = req.uri().path().to_string();
    let Some(rest) = path.strip_prefix(PREFIX) else {
        return Ok(error_doc(StatusCode::NOT_FOUND, "NotFound", "unknown path"));
    };
    let method = req.method().clone();
    Ok(match (&method, rest) {
        (&Method::GET, "/invocation/next") => next(&shared).await,
        (&Method::POST, "/init/error") => {
            let (error_type, body) = read_error(req).await;
            tracing::debug!("runtime init error: {error_type}");
            shared.init_error.send_replace(Some(Reply::Error { error_type, body }));
            reply(StatusCode::ACCEPTED, r#"{"status":"OK"}"#)
        }
        (&Method::POST, r) if r.starts_with("/invocation/") => {
            let tail = &r["/invocation/".len()..];
            match tail.rsplit_once('/') {
                Some((id, "response")) => answer_response(&shared, id.to_string(), req).await,
                Some((id, "error")) => {
                    let id = id.to_string();
                    let (error_type, body) = read_error(req).await;
                    answer(&shared, &id, Reply::Error { error_type, body })
                }
                _ => error_doc(StatusCode::NOT_FOUND, "NotFound", "unknown path"),
            }
        }
        _ => error_doc(StatusCode::NOT_FOUND, "NotFound", "unknown path"),
    })
}

async fn next(shared: &Shared) -> Response<Body> {
    shared.first_next.send_if_modified(|v| !std::mem::replace(v, true));
    let pending = {
        let mut queue = shared.queue.lock().await;
        tokio::select! {
            _ = shared.stop.cancelled() => None,
            p = queue.recv() => p,
        }
    };
    let Some(p) = pending else {
        // Stopping: the container is about to be removed. An answer would only make the runtime
        // print a traceback; Lambda never answers `next` of a sandbox it shuts down either.
        return std::future::pending().await;
    };
    shared.inflight.lock().unwrap_or_else(|e| e.into_inner()).insert(p.request_id.clone(), p.reply);
    let mut r = Response::new(Full::new(p.payload));
    let h = r.headers_mut();
    h.insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
    let mut put = |name: &'static str, value: String| {
        if let Ok(v) = http::HeaderValue::from_str(&value) {
            h.insert(name, v);
        }
    };
    put("lambda-runtime-aws-request-id", p.request_id);
    put("lambda-runtime-deadline-ms", p.deadline_ms.to_string());
    put("lambda-runtime-invoked-function-arn", p.function_arn);
    put("lambda-runtime-trace-id", p.trace_id);
    r
}

async fn answer_response(shared: &Shared, id: String, req: Request<Incoming>) -> Response<Body> {
    match Limited::new(req.into_body(), MAX_RESPONSE_BYTES).collect().await {
        Ok(body) => answer(shared, &id, Reply::Response(body.to_bytes())),
        Err(_) => {
            let message = format!("Exceeded maximum allowed payload size ({MAX_RESPONSE_BYTES} bytes).");
            let doc = serde_json::json!({ "errorMessage": message, "errorType": "Function.ResponseSizeTooLarge" });
            let _ = answer(
                shared,
                &id,
                Reply::Error { error_type: "Function.ResponseSizeTooLarge".into(), body: Bytes::from(doc.to_string()) },
            );
            error_doc(StatusCode::PAYLOAD_TOO_LARGE, "RequestEntityTooLarge", &message)
        }
    }
}

fn answer(shared: &Shared, id: &str, r: Reply) -> Response<Body> {
    let waiter = shared.inflight.lock().unwrap_or_else(|e| e.into_inner()).remove(id);
    match waiter {
        Some(tx) => {
            let _ = tx.send(r);
            reply(StatusCode::ACCEPTED, r#"{"status":"OK"}"#)
        }
        None => error_doc(StatusCode::BAD_REQUEST, "InvalidRequestID", "Invalid request ID"),
    }
}

/// The error type (Lambda-Runtime-Function-Error-Type, else the body's `errorType`) and the body.
async fn read_error(req: Request<Incoming>) -> (String, Bytes) {
    let header =
        req.headers().get("lambda-runtime-function-error-type").and_then(|v| v.to_str().ok()).map(str::to_string);
    let body =
        Limited::new(req.into_body(), MAX_RESPONSE_BYTES).collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    let from_body = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v.get("errorType").and_then(|t| t.as_str()).map(str::to_string));
    (from_body.or(header).unwrap_or_else(|| "Unhandled".into()), body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;
    use hyper_util::client::legacy::Client;
    use hyper_util::rt::TokioExecutor;

    type HttpClient = Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>;

    async fn call(
        client: &HttpClient,
        api: &RuntimeApi,
        method: Method,
        path: &str,
        body: Vec<u8>,
        header: Option<(&str, &str)>,
    ) -> (StatusCode, http::HeaderMap, Bytes) {
        let mut req = Request::builder().method(method).uri(format!("http://{}{PREFIX}{path}", api.addr));
        if let Some((k, v)) = header {
            req = req.header(k, v);
        }
        let resp = client.request(req.body(Full::new(Bytes::from(body))).expect("request")).await.expect("answer");
        let (parts, body) = resp.into_parts();
        (parts.status, parts.headers, body.collect().await.expect("body").to_bytes())
    }

    fn pending(id: &str, payload: &'static [u8]) -> (Pending, oneshot::Receiver<Reply>) {
        let (tx, rx) = oneshot::channel();
        let p = Pending {
            request_id: id.into(),
            payload: Bytes::from_static(payload),
            deadline_ms: 1_764_000_000_123,
            function_arn: "arn:aws:lambda:us-east-1:123456789012:function:f:live".into(),
            trace_id: "Root=1-5e1b4151-5ac6c58f5b5dbd6a6e1e2f8a;Parent=1;Sampled=0".into(),
            reply: tx,
        };
        (p, rx)
    }

    #[tokio::test]
    async fn serves_the_runtime_api_contract() {
        let stop = CancellationToken::new();
        let api = RuntimeApi::start(stop.clone()).await.expect("listen");
        let client: HttpClient = Client::builder(TokioExecutor::new()).build_http();
        let init = api.initialised();
        assert!(!*init.borrow());

        // next: the event with Lambda's headers and a JSON content type (awslambdaric needs it).
        let (p, rx) = pending("req-1", br#"{"Records":[]}"#);
        assert!(api.submit(p).await.is_ok());
        let (status, headers, body) = call(&client, &api, Method::GET, "/invocation/next", vec![], None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(&body[..], br#"{"Records":[]}"#);
        assert_eq!(headers["content-type"], "application/json");
        assert_eq!(headers["lambda-runtime-aws-request-id"], "req-1");
        assert_eq!(headers["lambda-runtime-deadline-ms"], "1764000000123");
        assert_eq!(
            headers["lambda-runtime-invoked-function-arn"],
            "arn:aws:lambda:us-east-1:123456789012:function:f:live"
        );
        assert!(headers["lambda-runtime-trace-id"].to_str().expect("ascii").starts_with("Root=1-"));
        assert!(*api.initialised().borrow(), "the first next ends init");

        // response: 202 and delivered; a second answer or an unknown ID: 400 InvalidRequestID.
        let (status, _, body) =
            call(&client, &api, Method::POST, "/invocation/req-1/response", b"{\"ok\":1}".to_vec(), None).await;
        assert_eq!(status, StatusCode::ACCEPTED);
        assert_eq!(&body[..], br#"{"status":"OK"}"#);
        assert_eq!(rx.await.expect("reply"), Reply::Response(Bytes::from_static(b"{\"ok\":1}")));
        for path in ["/invocation/req-1/response", "/invocation/nope/response", "/invocation/nope/error"] {
            let (status, _, body) = call(&client, &api, Method::POST, path, b"{}".to_vec(), None).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{path}");
            assert!(String::from_utf8_lossy(&body).contains("InvalidRequestID"), "{path}");
        }

        // error: the type from the body wins, else the header.
        let (p, rx) = pending("req-2", b"{}");
        assert!(api.submit(p).await.is_ok());
        call(&client, &api, Method::GET, "/invocation/next", vec![], None).await;
        let doc = br#"{"errorMessage":"boom","errorType":"ValueError","stackTrace":[]}"#.to_vec();
        let header = Some(("lambda-runtime-function-error-type", "Unhandled"));
        let (status, _, _) = call(&client, &api, Method::POST, "/invocation/req-2/error", doc.clone(), header).await;
        assert_eq!(status, StatusCode::ACCEPTED);
        assert_eq!(rx.await.expect("reply"), Reply::Error { error_type: "ValueError".into(), body: Bytes::from(doc) });

        // A response past 6 MiB + 100 bytes: 413 to the runtime, a function error to the caller.
        let (p, rx) = pending("req-3", b"{}");
        assert!(api.submit(p).await.is_ok());
        call(&client, &api, Method::GET, "/invocation/next", vec![], None).await;
        let big = vec![b'x'; MAX_RESPONSE_BYTES + 1];
        let (status, _, _) = call(&client, &api, Method::POST, "/invocation/req-3/response", big, None).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
        match rx.await.expect("reply") {
            Reply::Error { error_type, .. } => assert_eq!(error_type, "Function.ResponseSizeTooLarge"),
            other => panic!("expected an error, got {other:?}"),
        }

        // init/error: 202 and reported to whoever waits for init.
        let init_error = api.init_error();
        let doc = br#"{"errorMessage":"no module","errorType":"Runtime.ImportModuleError"}"#.to_vec();
        let (status, _, _) = call(&client, &api, Method::POST, "/init/error", doc, None).await;
        assert_eq!(status, StatusCode::ACCEPTED);
        assert!(
            matches!(&*init_error.borrow(), Some(Reply::Error { error_type, .. }) if error_type == "Runtime.ImportModuleError")
        );

        let (status, _, _) = call(&client, &api, Method::GET, "/unknown", vec![], None).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        stop.cancel();
    }
}
