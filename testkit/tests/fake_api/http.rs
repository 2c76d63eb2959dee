//! The wire format itself, read with a raw TCP socket: what kubectl and any other client see.

use std::io::{Read, Write};
use std::net::TcpStream;

use k8s_openapi::api::core::v1::Service;
use serde_json::Value;
use testkit::fake_api::FakeApi;

use super::{PATIENCE, fake_api, service};

/// Writes a GET of `path` (the server closes the connection after answering).
pub fn send(stream: &mut TcpStream, path: &str) {
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: fake\r\nAccept: application/json\r\nConnection: close\r\n\r\n"
    );
    stream
        .write_all(request.as_bytes())
        .expect("write the request");
}

/// Everything until the server closes the connection.
pub fn read_all(stream: &mut TcpStream) -> std::io::Result<String> {
    let mut bytes = Vec::new();
    stream.read_to_end(&mut bytes)?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// Status code, headers and (de-chunked) body of a GET of `path`.
pub fn exchange(api: &FakeApi, path: &str) -> (u16, String, String) {
    let mut stream = TcpStream::connect(api.addr()).expect("connect");
    stream.set_read_timeout(Some(PATIENCE)).expect("timeout");
    send(&mut stream, path);
    let answer = read_all(&mut stream).expect("an answer");
    let (head, body) = answer.split_once("\r\n\r\n").expect("a header block");
    let code = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("a status code");
    let chunked = head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked");
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_owned()
    };
    (code, head.to_owned(), body)
}

/// Status code and JSON body of a GET of `path`.
pub fn get(api: &FakeApi, path: &str) -> (u16, Value) {
    let (code, _, body) = exchange(api, path);
    (code, serde_json::from_str(&body).expect("a JSON body"))
}

/// The payload of a complete chunked body.
fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    loop {
        let (size, rest) = body.split_once("\r\n").expect("a chunk size line");
        let size = usize::from_str_radix(size.trim(), 16).expect("a hex chunk size");
        if size == 0 {
            return out;
        }
        out.push_str(&rest[..size]);
        body = &rest[size + 2..];
    }
}

#[test]
fn lists_objects_and_errors_look_like_the_real_servers() {
    let api = fake_api();
    api.create(&service("shop", "web", 80, &[("app", "web")]))
        .expect("create");
    let (code, list) = get(&api, "/api/v1/services");
    assert_eq!(code, 200);
    assert_eq!(list["kind"], "ServiceList");
    assert_eq!(list["apiVersion"], "v1");
    assert_eq!(
        list["metadata"]["resourceVersion"], "1",
        "a string, as on the wire"
    );
    let item = &list["items"][0];
    assert!(
        item.get("kind").is_none() && item.get("apiVersion").is_none(),
        "{item}"
    );
    assert_eq!(item["metadata"]["namespace"], "shop");
    assert!(
        item["metadata"]["uid"]
            .as_str()
            .is_some_and(|u| u.len() == 36)
    );
    let (code, one) = get(&api, "/api/v1/namespaces/shop/services/web");
    assert_eq!(
        (code, &one["kind"], &one["apiVersion"]),
        (200, &"Service".into(), &"v1".into())
    );
    let (code, slices) = get(
        &api,
        "/apis/discovery.k8s.io/v1/namespaces/shop/endpointslices",
    );
    assert_eq!((code, &slices["kind"]), (200, &"EndpointSliceList".into()));
    let (code, status) = get(&api, "/api/v1/namespaces/shop/services/nope");
    assert_eq!(code, 404);
    assert_eq!(
        (&status["kind"], &status["reason"], &status["code"]),
        (&"Status".into(), &"NotFound".into(), &404.into())
    );
    let (code, _) = get(&api, "/api/v1/pods");
    assert_eq!(code, 404);
    let (code, status) = get(&api, "/api/v1/services?fieldSelector=spec.nodeName%3Dx");
    assert_eq!((code, &status["reason"]), (400, &"BadRequest".into()));
    let (code, version) = get(&api, "/version");
    assert_eq!((code, &version["major"]), (200, &"1".into()));
    let (code, groups) = get(&api, "/apis");
    assert_eq!(
        (code, &groups["groups"][0]["name"]),
        (200, &"discovery.k8s.io".into())
    );
}

#[test]
fn writes_over_http_are_refused() {
    let api = fake_api();
    let mut stream = TcpStream::connect(api.addr()).expect("connect");
    stream.set_read_timeout(Some(PATIENCE)).expect("timeout");
    let body = "{}";
    let request = format!(
        "POST /api/v1/namespaces/a/services HTTP/1.1\r\nHost: fake\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).expect("write");
    let answer = read_all(&mut stream).expect("answer");
    assert!(answer.starts_with("HTTP/1.1 405"), "{answer}");
}

#[test]
fn expired_continue_is_an_http_410() {
    let api = fake_api();
    for i in 0..3 {
        api.create(&service("ns", &format!("s{i}"), 80, &[]))
            .expect("create");
    }
    let (_, page) = get(&api, "/api/v1/services?limit=2");
    let token = page["metadata"]["continue"]
        .as_str()
        .expect("a token")
        .to_owned();
    api.delete::<Service>("ns", "s2").expect("delete");
    api.compact_all();
    let (code, status) = get(&api, &format!("/api/v1/services?limit=2&continue={token}"));
    assert_eq!(code, 410);
    assert_eq!(
        (&status["reason"], &status["status"]),
        (&"Expired".into(), &"Failure".into())
    );
}

#[test]
fn a_watch_is_a_chunked_stream_of_json_lines() {
    let api = fake_api();
    api.create(&service("ns", "a", 80, &[])).expect("create");
    api.create(&service("ns", "b", 80, &[])).expect("create");
    let (code, head, body) = exchange(
        &api,
        "/api/v1/services?watch=1&timeoutSeconds=1&allowWatchBookmarks=true",
    );
    assert_eq!(code, 200);
    assert!(
        head.to_ascii_lowercase()
            .contains("transfer-encoding: chunked"),
        "{head}"
    );
    let events: Vec<Value> = body
        .lines()
        .map(|line| serde_json::from_str(line).expect("one JSON event a line"))
        .collect();
    assert_eq!(events[0]["type"], "ADDED");
    assert_eq!(events[0]["object"]["kind"], "Service");
    assert_eq!(events[1]["object"]["metadata"]["name"], "b");
    // A second of watching with 100 ms bookmarks: the rest are bookmarks at version 2.
    assert!(events.len() > 4, "{body}");
    for mark in &events[2..] {
        assert_eq!(mark["type"], "BOOKMARK");
        assert_eq!(mark["object"]["metadata"]["resourceVersion"], "2");
    }
}

#[test]
fn a_dropped_watch_ends_without_the_last_chunk() {
    let api = fake_api();
    api.create(&service("ns", "a", 80, &[])).expect("create");
    let mut stream = TcpStream::connect(api.addr()).expect("connect");
    stream.set_read_timeout(Some(PATIENCE)).expect("timeout");
    send(&mut stream, "/api/v1/services?watch=1");
    // Wait for the first event, then cut.
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&seen).contains("ADDED") {
        let n = stream.read(&mut buf).expect("read");
        assert!(n > 0, "closed before the first event");
        seen.extend_from_slice(&buf[..n]);
    }
    api.drop_watches();
    let rest = read_all(&mut stream).unwrap_or_default();
    let all = String::from_utf8_lossy(&seen).into_owned() + &rest;
    assert!(
        !all.ends_with("0\r\n\r\n"),
        "a clean end of the chunked body: {all:?}"
    );
}
