//! The HTTP side: the accept loop, one hyper HTTP/1.1 connection task per client, and the
//! request handler that routes to discovery, get, list and watch.

use std::convert::Infallible;
use std::sync::Arc;

use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinSet;

use super::body::ApiBody;
use super::kind::Kind;
use super::options::Pause;
use super::request::{self, Params, Route};
use super::selectors::FieldSelector;
use super::shared::{Shared, Verb};
use super::status::ApiError;
use super::store::Key;
use super::{discovery, list, watch, wire};

/// Accepts connections until `stop` fires (or its sender is dropped), then drops the listener
/// and every connection, and returns once they are gone.
pub(crate) async fn serve(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut stop: oneshot::Receiver<()>,
) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = &mut stop => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    tracing::trace!(%peer, "fake API server: connection");
                    let shared = Arc::clone(&shared);
                    connections.spawn(async move {
                        let service = service_fn(move |req| handle(req, Arc::clone(&shared)));
                        let served = http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                        if let Err(e) = served {
                            tracing::debug!(%peer, error = %e, "fake API server: connection ended");
                        }
                    });
                }
                Err(e) => tracing::warn!(error = %e, "fake API server: accept failed"),
            },
            // Reap finished connections so the set does not grow.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);
    connections.shutdown().await;
}

/// Answers one request (never fails at the HTTP level: errors are Status bodies).
async fn handle(
    req: Request<Incoming>,
    shared: Arc<Shared>,
) -> Result<Response<ApiBody>, Infallible> {
    let (method, path, query) = (
        req.method().clone(),
        req.uri().path().to_owned(),
        req.uri().query().map(str::to_owned),
    );
    let response = match answer(&method, &path, query.as_deref(), shared).await {
        Ok(body) => respond(StatusCode::OK, body),
        Err(e) => {
            tracing::debug!(%method, %path, code = e.code, message = %e.message, "fake API server: refused");
            let code = StatusCode::from_u16(e.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            respond(
                code,
                ApiBody::full(serde_json::to_vec(&e.status()).unwrap_or_default()),
            )
        }
    };
    Ok(response)
}

/// Routes, counts and checks a request, then serves it.
async fn answer(
    method: &Method,
    path: &str,
    query: Option<&str>,
    shared: Arc<Shared>,
) -> Result<ApiBody, ApiError> {
    let route = request::route(path)?;
    let (kind, params) = match &route {
        Route::Discovery(doc) => {
            paused(&shared).await?;
            only_get(method)?;
            return discovery::document(doc)
                .map(|d| ApiBody::full(serde_json::to_vec(&d).unwrap_or_default()))
                .ok_or_else(|| ApiError::not_found(format!("no discovery document {doc}")));
        }
        Route::Collection { kind, .. } | Route::Object { kind, .. } => {
            (*kind, request::params(query, *kind)?)
        }
    };
    let verb = match &route {
        _ if params.watch => Verb::Watch,
        Route::Object { .. } => Verb::Get,
        _ => Verb::List(params.continue_token.is_none()),
    };
    shared.count(kind, verb);
    paused(&shared).await?;
    only_get(method)?;
    serve_resource(route, kind, params, shared)
}

/// Serves a list, watch or get of `kind` once the request is accepted.
fn serve_resource(
    route: Route,
    kind: Kind,
    params: Params,
    shared: Arc<Shared>,
) -> Result<ApiBody, ApiError> {
    match route {
        Route::Collection { namespace, .. } if params.watch => {
            watch::watch(shared, kind, namespace, params)
        }
        Route::Collection { namespace, .. } => {
            list::list(&shared, kind, namespace.as_deref(), &params).map(ApiBody::full)
        }
        Route::Object {
            namespace, name, ..
        } if params.watch => {
            // The old single-object watch: the collection, narrowed to the name.
            let mut params = params;
            params.fields = FieldSelector::parse(&format!("metadata.name={name}"), kind)
                .map_err(ApiError::bad_request)?;
            watch::watch(shared, kind, namespace, params)
        }
        Route::Object {
            namespace, name, ..
        } => {
            let key = Key {
                kind,
                namespace: namespace.unwrap_or_default(),
                name,
            };
            get(&shared, &key)
        }
        Route::Discovery(doc) => Err(ApiError::not_found(doc)),
    }
}

/// One object, with its `kind` and `apiVersion`.
fn get(shared: &Shared, key: &Key) -> Result<ApiBody, ApiError> {
    let object = shared.store().get(key);
    object
        .map(|o| ApiBody::full(wire::object(key.kind, &o)))
        .ok_or_else(|| {
            ApiError::not_found(format!("{} \"{}\" not found", key.kind.plural(), key.name))
        })
}

fn only_get(method: &Method) -> Result<(), ApiError> {
    if method == Method::GET {
        Ok(())
    } else {
        Err(ApiError::method_not_allowed(method.as_str()))
    }
}

/// Waits while the server is paused in `Hang` mode; an error in `Unavailable` mode.
async fn paused(shared: &Shared) -> Result<(), ApiError> {
    let mut pause = shared.pause.subscribe();
    let mode = *pause.borrow_and_update();
    match mode {
        None => Ok(()),
        Some(Pause::Unavailable) => Err(ApiError::unavailable()),
        Some(Pause::Hang) => {
            // Ends when unpaused (or switched to Unavailable); the sender lives as long as
            // the server, so an error cannot happen while this request is being served.
            let _ = pause.wait_for(|p| *p != Some(Pause::Hang)).await;
            match *pause.borrow() {
                Some(Pause::Unavailable) => Err(ApiError::unavailable()),
                _ => Ok(()),
            }
        }
    }
}

fn respond(code: StatusCode, body: ApiBody) -> Response<ApiBody> {
    let mut response = Response::new(body);
    *response.status_mut() = code;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}
