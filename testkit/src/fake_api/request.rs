//! A request's path and query, parsed: which resource ([`Route`]) and how ([`Params`]).

use std::time::Duration;

use super::kind::Kind;
use super::selectors::{FieldSelector, LabelSelector};
use super::status::ApiError;

/// What a path names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Route {
    /// A discovery document (`/version`, `/api`, `/apis`, `/api/v1`, ...), by path.
    Discovery(String),
    /// A collection: all namespaces (`None`) or one.
    Collection {
        /// The kind listed.
        kind: Kind,
        /// The namespace, for a namespaced path.
        namespace: Option<String>,
    },
    /// One object.
    Object {
        /// Its kind.
        kind: Kind,
        /// Its namespace (`None` for cluster-scoped kinds).
        namespace: Option<String>,
        /// Its name.
        name: String,
    },
}

/// The query parameters the fake understands; others are ignored, as the real server does.
#[derive(Clone, Debug, Default)]
pub(crate) struct Params {
    /// `watch=true|1`.
    pub watch: bool,
    /// `labelSelector`.
    pub labels: LabelSelector,
    /// `fieldSelector`.
    pub fields: FieldSelector,
    /// `resourceVersion`, if given and not empty.
    pub resource_version: Option<String>,
    /// `resourceVersionMatch` (`Exact`, `NotOlderThan`).
    pub version_match: Option<String>,
    /// `limit` (0 or absent: no limit).
    pub limit: Option<usize>,
    /// `continue`.
    pub continue_token: Option<String>,
    /// `timeoutSeconds`.
    pub timeout: Option<Duration>,
    /// `allowWatchBookmarks`.
    pub bookmarks: bool,
    /// `sendInitialEvents`.
    pub send_initial_events: bool,
}

/// Parses a request path.
pub(crate) fn route(path: &str) -> Result<Route, ApiError> {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let not_found = || {
        ApiError::not_found(format!(
            "the server could not find the requested resource ({path})"
        ))
    };
    let (group_version, rest) = match segments.as_slice() {
        ["version"]
        | ["api"]
        | ["apis"]
        | ["api", "v1"]
        | ["apis", "discovery.k8s.io"]
        | ["apis", "discovery.k8s.io", "v1"] => return Ok(Route::Discovery(segments.join("/"))),
        ["api", "v1", rest @ ..] => ("v1".to_owned(), rest),
        ["apis", group, version, rest @ ..] => (format!("{group}/{version}"), rest),
        _ => return Err(not_found()),
    };
    let kind = |plural: &str| Kind::from_path(&group_version, plural).ok_or_else(not_found);
    let route = match rest {
        [plural] => Route::Collection {
            kind: kind(plural)?,
            namespace: None,
        },
        ["namespaces", ns, plural] => Route::Collection {
            kind: kind(plural)?,
            namespace: Some((*ns).to_owned()),
        },
        [plural, name] => Route::Object {
            kind: kind(plural)?,
            namespace: None,
            name: (*name).to_owned(),
        },
        ["namespaces", ns, plural, name] => Route::Object {
            kind: kind(plural)?,
            namespace: Some((*ns).to_owned()),
            name: (*name).to_owned(),
        },
        _ => return Err(not_found()),
    };
    let (Route::Collection { kind, namespace }
    | Route::Object {
        kind, namespace, ..
    }) = &route
    else {
        return Err(not_found());
    };
    // A namespaced kind needs no namespace (all namespaces) only for collections.
    let fits = !matches!(
        (kind.namespaced(), namespace, &route),
        (false, Some(_), _) | (true, None, Route::Object { .. })
    );
    if fits { Ok(route) } else { Err(not_found()) }
}

/// Parses the query string for a request on `kind`.
pub(crate) fn params(query: Option<&str>, kind: Kind) -> Result<Params, ApiError> {
    let mut params = Params::default();
    for (name, value) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        let value = value.into_owned();
        match name.as_ref() {
            "watch" => params.watch = boolean(&name, &value)?,
            "labelSelector" => {
                params.labels = LabelSelector::parse(&value).map_err(ApiError::bad_request)?
            }
            "fieldSelector" => {
                params.fields = FieldSelector::parse(&value, kind).map_err(ApiError::bad_request)?
            }
            "resourceVersion" => params.resource_version = Some(value).filter(|v| !v.is_empty()),
            "resourceVersionMatch" => params.version_match = Some(value).filter(|v| !v.is_empty()),
            "limit" => params.limit = Some(number(&name, &value)?).filter(|&n| n > 0),
            "continue" => params.continue_token = Some(value).filter(|v| !v.is_empty()),
            "timeoutSeconds" => {
                params.timeout = Some(Duration::from_secs(number(&name, &value)? as u64))
            }
            "allowWatchBookmarks" => params.bookmarks = boolean(&name, &value)?,
            "sendInitialEvents" => params.send_initial_events = boolean(&name, &value)?,
            _ => {}
        }
    }
    Ok(params)
}

/// A resourceVersion as a number (`"0"` is 0).
pub(crate) fn resource_version(text: &str) -> Result<u64, ApiError> {
    text.parse()
        .map_err(|_| ApiError::bad_request(format!("invalid resource version {text:?}")))
}

fn boolean(name: &str, value: &str) -> Result<bool, ApiError> {
    match value {
        "true" | "1" | "" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(ApiError::bad_request(format!(
            "{name}: invalid boolean {value:?}"
        ))),
    }
}

fn number(name: &str, value: &str) -> Result<usize, ApiError> {
    value
        .parse()
        .map_err(|_| ApiError::bad_request(format!("{name}: invalid number {value:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        let svc_all = route("/api/v1/services").expect("route");
        assert_eq!(
            svc_all,
            Route::Collection {
                kind: Kind::Service,
                namespace: None
            }
        );
        let slices =
            route("/apis/discovery.k8s.io/v1/namespaces/ns/endpointslices").expect("route");
        assert_eq!(
            slices,
            Route::Collection {
                kind: Kind::EndpointSlice,
                namespace: Some("ns".into())
            }
        );
        let node = route("/api/v1/nodes/n1").expect("route");
        assert_eq!(
            node,
            Route::Object {
                kind: Kind::Node,
                namespace: None,
                name: "n1".into()
            }
        );
        assert_eq!(
            route("/apis").expect("route"),
            Route::Discovery("apis".into())
        );
        for bad in [
            "/api/v1/pods",
            "/api/v1/namespaces/ns/nodes",
            "/api/v1/services/name-without-namespace",
            "/apis/discovery.k8s.io/v1beta1/endpointslices",
            "/healthz",
        ] {
            assert_eq!(route(bad).map_err(|e| e.code), Err(404), "{bad}");
        }
    }

    #[test]
    fn kube_rs_queries() {
        let p = params(
            Some("&watch=true&timeoutSeconds=290&allowWatchBookmarks=true&labelSelector=%21a%2Cb%3Dc&resourceVersion=12"),
            Kind::Service,
        )
        .expect("params");
        assert!(p.watch && p.bookmarks && !p.send_initial_events);
        assert_eq!(p.timeout, Some(Duration::from_secs(290)));
        assert_eq!(p.resource_version.as_deref(), Some("12"));
        assert!(!p.labels.is_empty());
        let p = params(Some("limit=500&resourceVersion="), Kind::Node).expect("params");
        assert_eq!((p.limit, p.resource_version), (Some(500), None));
        assert_eq!(
            params(Some("limit=x"), Kind::Node)
                .map_err(|e| e.code)
                .err(),
            Some(400)
        );
        assert_eq!(
            params(Some("labelSelector=a+in+b"), Kind::Node)
                .map_err(|e| e.code)
                .err(),
            Some(400)
        );
    }
}
