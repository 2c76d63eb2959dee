//! Lists: which snapshot a request reads (`resourceVersion`, `resourceVersionMatch`,
//! `continue`), selector filtering and `limit`/`continue` pagination.
//!
//! Every page of a paginated list reads the snapshot of the first page (the continue token
//! carries its resourceVersion and the last key sent); once the log no longer reaches that far
//! back the token is expired (410), as on the real server after an etcd compaction.

use std::sync::Arc;

use super::request::{Params, resource_version};
use super::shared::Shared;
use super::status::ApiError;
use super::store::Key;
use super::{kind::Kind, wire};

/// Answers a list of `kind` (in `namespace`, or all namespaces) with the JSON body.
pub(crate) fn list(
    shared: &Shared,
    kind: Kind,
    namespace: Option<&str>,
    params: &Params,
) -> Result<Vec<u8>, ApiError> {
    let store = shared.store();
    let (at, after) = start(params, kind, store.rv(), store.compacted())?;
    let mut snapshot = store
        .snapshot(kind, at, after.as_ref())
        .ok_or_else(|| expired(params))?;
    let limit = params.limit.unwrap_or(usize::MAX);
    let mut items = Vec::new();
    let mut last = None;
    for (key, object) in snapshot.by_ref() {
        if namespace.is_some_and(|ns| ns != key.namespace)
            || !params.labels.matches(object)
            || !params.fields.matches(object)
        {
            continue;
        }
        items.push(Arc::clone(object));
        last = Some(key);
        if items.len() == limit {
            break;
        }
    }
    // More in the snapshot after the last item sent: another page (it may come out empty
    // after filtering, as on the real server).
    let token = match (last, snapshot.next()) {
        (Some(key), Some(_)) => Some(encode_token(at, key)),
        _ => None,
    };
    drop(snapshot);
    drop(store);
    let items = items.iter().map(AsRef::as_ref).collect();
    Ok(wire::list(kind, at, token.as_deref(), items))
}

/// The snapshot version to read and the key to continue after.
fn start(
    params: &Params,
    kind: Kind,
    current: u64,
    compacted: u64,
) -> Result<(u64, Option<Key>), ApiError> {
    if let Some(token) = &params.continue_token {
        if params.resource_version.is_some() {
            return Err(ApiError::bad_request(
                "specifying resource version is not allowed when using continue",
            ));
        }
        let (rv, namespace, name) = decode_token(token)?;
        if rv < compacted {
            return Err(expired(params));
        }
        let key = Key {
            kind,
            namespace,
            name,
        };
        return Ok((rv, Some(key)));
    }
    let Some(text) = &params.resource_version else {
        if params.version_match.is_some() {
            return Err(ApiError::bad_request(
                "resourceVersionMatch is forbidden unless resourceVersion is provided",
            ));
        }
        return Ok((current, None));
    };
    let asked = resource_version(text)?;
    match params.version_match.as_deref() {
        Some("Exact") if asked == 0 => Err(ApiError::bad_request(
            "resourceVersionMatch \"Exact\" is forbidden for resourceVersion \"0\"",
        )),
        Some("Exact") if asked > current => Err(ApiError::too_large_rv(asked, current)),
        Some("Exact") if asked < compacted => Err(ApiError::expired(format!(
            "too old resource version: {asked} ({compacted})"
        ))),
        Some("Exact") => Ok((asked, None)),
        None | Some("NotOlderThan") if asked > current => {
            Err(ApiError::too_large_rv(asked, current))
        }
        None | Some("NotOlderThan") => Ok((current, None)),
        Some(other) => Err(ApiError::bad_request(format!(
            "resourceVersionMatch: unsupported value {other:?}"
        ))),
    }
}

/// The 410 for a continue token older than the log.
fn expired(params: &Params) -> ApiError {
    if params.continue_token.is_some() {
        ApiError::expired(
            "The provided continue parameter is too old to display a consistent list result. \
             Start a new list without the continue parameter.",
        )
    } else {
        ApiError::expired("too old resource version")
    }
}

/// An opaque token: hex of `rv/namespace/name`.
fn encode_token(rv: u64, key: &Key) -> String {
    format!("{rv}/{}/{}", key.namespace, key.name)
        .bytes()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn decode_token(token: &str) -> Result<(u64, String, String), ApiError> {
    let invalid = || ApiError::bad_request(format!("continue key is not valid: {token:?}"));
    let bytes: Vec<u8> = (0..token.len())
        .step_by(2)
        .map(|i| {
            token
                .get(i..i + 2)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        })
        .collect::<Option<_>>()
        .ok_or_else(invalid)?;
    let text = String::from_utf8(bytes).map_err(|_| invalid())?;
    let mut parts = text.splitn(3, '/');
    let (Some(rv), Some(namespace), Some(name)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(invalid());
    };
    let rv = rv.parse().map_err(|_| invalid())?;
    Ok((rv, namespace.to_owned(), name.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_garbage_is_refused() {
        let key = Key {
            kind: Kind::Service,
            namespace: "ns".into(),
            name: "a".into(),
        };
        let token = encode_token(42, &key);
        assert_eq!(
            decode_token(&token).expect("decodes"),
            (42, "ns".into(), "a".into())
        );
        for bad in ["zz", "abc", "3132"] {
            assert_eq!(
                decode_token(bad).map_err(|e| e.code).err(),
                Some(400),
                "{bad}"
            );
        }
    }

    #[test]
    fn snapshot_choice() {
        let p = |rv: Option<&str>, m: Option<&str>| Params {
            resource_version: rv.map(Into::into),
            version_match: m.map(Into::into),
            ..Params::default()
        };
        let at = |params: Params| {
            start(&params, Kind::Node, 10, 4)
                .map(|(rv, _)| rv)
                .map_err(|e| e.code)
        };
        assert_eq!(at(p(None, None)), Ok(10));
        assert_eq!(at(p(Some("0"), None)), Ok(10));
        assert_eq!(at(p(Some("0"), Some("NotOlderThan"))), Ok(10));
        assert_eq!(at(p(Some("7"), Some("Exact"))), Ok(7));
        assert_eq!(at(p(Some("3"), Some("Exact"))), Err(410));
        assert_eq!(at(p(Some("11"), None)), Err(504));
        assert_eq!(at(p(None, Some("Exact"))), Err(400));
        assert_eq!(at(p(Some("x"), None)), Err(400));
    }
}
