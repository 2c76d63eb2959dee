//! Tests of `proxy_core::manifest`.

use proxy_core::manifest::{Unusable, parse, read, read_with_limit};
use std::time::Duration;

use proxy_core::{Error, KubeObject, ObjectKind};

/// The (kind, namespace, name) of each object, for compact assertions.
fn refs(objects: &[KubeObject]) -> Vec<(ObjectKind, String, String)> {
    objects
        .iter()
        .map(|o| {
            let r = o.reference();
            (r.kind, r.namespace, r.name)
        })
        .collect()
}

fn r(kind: ObjectKind, namespace: &str, name: &str) -> (ObjectKind, String, String) {
    (kind, namespace.to_owned(), name.to_owned())
}

/// The (index, reason) of each error; panics on a non-manifest error.
fn manifest_errors(errors: &[Error]) -> Vec<(usize, String)> {
    errors
        .iter()
        .map(|e| match e {
            Error::Manifest { index, reason } => (*index, reason.clone()),
            other => panic!("unexpected error {other}"),
        })
        .collect()
}

fn indices(errors: &[Error]) -> Vec<usize> {
    manifest_errors(errors)
        .into_iter()
        .map(|(i, _)| i)
        .collect()
}

const SERVICE_YAML: &str = "\
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: shop
spec:
  clusterIP: 10.96.0.10
  ports:
  - name: http
    port: 80
";

const SLICE_YAML: &str = "\
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: web-abc12
  namespace: shop
  labels:
    kubernetes.io/service-name: web
addressType: IPv4
endpoints:
- addresses: [10.0.0.1]
ports:
- name: http
  port: 8080
";

const NODE_YAML: &str = "\
apiVersion: v1
kind: Node
metadata:
  name: node-a
status:
  addresses:
  - {type: InternalIP, address: 10.1.0.5}
";

#[test]
fn multi_document_yaml_yields_every_object_in_order() {
    let text = format!("{SERVICE_YAML}---\n{SLICE_YAML}---\n{NODE_YAML}");
    let (objects, errors) = parse(&text);
    assert_eq!(manifest_errors(&errors), vec![]);
    assert_eq!(
        refs(&objects),
        vec![
            r(ObjectKind::Service, "shop", "web"),
            r(ObjectKind::EndpointSlice, "shop", "web-abc12"),
            r(ObjectKind::Node, "", "node-a"),
        ]
    );
    let KubeObject::Service(svc) = &objects[0] else {
        panic!("a Service first");
    };
    let spec = svc.spec.as_ref().expect("spec read");
    assert_eq!(spec.cluster_ip.as_deref(), Some("10.96.0.10"));
    assert_eq!(spec.ports.as_ref().map(|p| p[0].port), Some(80));
}

#[test]
fn a_json_object_is_read() {
    let text = r#"{"apiVersion": "v1", "kind": "Service",
                   "metadata": {"name": "web", "namespace": "shop"},
                   "spec": {"clusterIP": "10.96.0.10", "ports": [{"port": 80}]}}"#;
    let (objects, errors) = parse(text);
    assert_eq!(manifest_errors(&errors), vec![]);
    assert_eq!(refs(&objects), vec![r(ObjectKind::Service, "shop", "web")]);
}

#[test]
fn concatenated_json_objects_and_json_arrays_are_read() {
    let text = r#"{"apiVersion": "v1", "kind": "Node", "metadata": {"name": "a"}}
                  [{"apiVersion": "v1", "kind": "Node", "metadata": {"name": "b"}},
                   {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "c"}}]"#;
    let (objects, errors) = parse(text);
    assert_eq!(manifest_errors(&errors), vec![]);
    assert_eq!(
        refs(&objects),
        vec![
            r(ObjectKind::Node, "", "a"),
            r(ObjectKind::Node, "", "b"),
            r(ObjectKind::Node, "", "c"),
        ]
    );
}

#[test]
fn a_json_list_yields_its_items() {
    let text = r#"{
      "apiVersion": "v1",
      "kind": "List",
      "items": [
        {"apiVersion": "v1", "kind": "Service",
         "metadata": {"name": "web", "namespace": "shop"},
         "spec": {"clusterIP": "10.96.0.10", "ports": [{"port": 80}]}},
        {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
         "metadata": {"name": "web-abc12", "namespace": "shop",
                      "labels": {"kubernetes.io/service-name": "web"}},
         "addressType": "IPv4", "endpoints": [], "ports": []}
      ],
      "metadata": {"resourceVersion": ""}
    }"#;
    let (objects, errors) = parse(text);
    assert_eq!(manifest_errors(&errors), vec![]);
    assert_eq!(
        refs(&objects),
        vec![
            r(ObjectKind::Service, "shop", "web"),
            r(ObjectKind::EndpointSlice, "shop", "web-abc12"),
        ]
    );
}

#[test]
fn a_kubectl_yaml_list_yields_its_items() {
    let text = "\
apiVersion: v1
items:
- apiVersion: v1
  kind: Service
  metadata:
    name: web
    namespace: shop
    resourceVersion: \"1234\"
  spec:
    clusterIP: 10.96.0.10
    clusterIPs: [10.96.0.10]
    ports:
    - port: 80
      protocol: TCP
      targetPort: 8080
  status:
    loadBalancer: {}
- apiVersion: v1
  kind: Node
  metadata:
    name: node-a
kind: List
metadata:
  resourceVersion: \"\"
";
    let (objects, errors) = parse(text);
    assert_eq!(manifest_errors(&errors), vec![]);
    assert_eq!(
        refs(&objects),
        vec![
            r(ObjectKind::Service, "shop", "web"),
            r(ObjectKind::Node, "", "node-a"),
        ]
    );
}

#[test]
fn typed_list_items_without_kind_take_the_list_kind() {
    let text = r#"{"apiVersion": "v1", "kind": "ServiceList", "items": [
        {"metadata": {"name": "web", "namespace": "shop"},
         "spec": {"clusterIP": "10.96.0.10", "ports": [{"port": 80}]}}
    ]}"#;
    let (objects, errors) = parse(text);
    assert_eq!(manifest_errors(&errors), vec![]);
    assert_eq!(refs(&objects), vec![r(ObjectKind::Service, "shop", "web")]);
}

#[test]
fn an_unknown_kind_is_an_error_naming_it_and_the_rest_is_kept() {
    let deployment = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\n";
    let text = format!("{SERVICE_YAML}---\n{deployment}---\n{NODE_YAML}");
    let (objects, errors) = parse(&text);
    let errors = manifest_errors(&errors);
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].0, 1);
    assert!(errors[0].1.contains("Deployment"), "{}", errors[0].1);
    assert_eq!(
        refs(&objects),
        vec![
            r(ObjectKind::Service, "shop", "web"),
            r(ObjectKind::Node, "", "node-a"),
        ]
    );
}

#[test]
fn an_old_api_version_of_a_known_kind_is_an_error() {
    let old = "apiVersion: discovery.k8s.io/v1beta1\nkind: EndpointSlice\nmetadata: {name: s}\n";
    let (objects, errors) = parse(old);
    assert!(objects.is_empty());
    let errors = manifest_errors(&errors);
    assert_eq!(errors.len(), 1);
    assert!(errors[0].1.contains("v1beta1"), "{}", errors[0].1);
}

#[test]
fn a_document_that_does_not_deserialize_is_an_error_and_the_others_are_kept() {
    let bad = "apiVersion: v1\nkind: Service\nmetadata: {name: bad, namespace: shop}\n\
               spec: {ports: [{port: eighty}]}\n";
    let no_kind = "metadata: {name: what}\n";
    let scalar = "just a string\n";
    let text = format!("{SERVICE_YAML}---\n{bad}---\n{no_kind}---\n{scalar}---\n{NODE_YAML}");
    let (objects, errors) = parse(&text);
    let errors = manifest_errors(&errors);
    assert_eq!(
        errors.iter().map(|e| e.0).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    assert!(errors[0].1.contains("bad"), "{}", errors[0].1);
    assert!(errors[1].1.contains("no kind"), "{}", errors[1].1);
    assert_eq!(
        refs(&objects),
        vec![
            r(ObjectKind::Service, "shop", "web"),
            r(ObjectKind::Node, "", "node-a"),
        ]
    );
}

#[test]
fn a_bad_list_item_is_an_error_with_its_own_index() {
    let text = r#"{"apiVersion": "v1", "kind": "List", "items": [
        {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "a"}},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm"}},
        {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "b"}}
    ]}
    {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}}"#;
    let (objects, errors) = parse(text);
    assert_eq!(indices(&errors), vec![1, 3]);
    assert_eq!(
        refs(&objects),
        vec![r(ObjectKind::Node, "", "a"), r(ObjectKind::Node, "", "b")]
    );
}

#[test]
fn empty_documents_are_skipped_and_take_no_index() {
    let deployment = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\n";
    let text =
        format!("---\n---\n# only a comment\n---\n{SERVICE_YAML}---\n---\n{deployment}---\n");
    let (objects, errors) = parse(&text);
    assert_eq!(indices(&errors), vec![1]);
    assert_eq!(refs(&objects), vec![r(ObjectKind::Service, "shop", "web")]);
    for empty in ["", "   \n", "---\n", "# nothing\n"] {
        let (objects, errors) = parse(empty);
        assert!(objects.is_empty() && errors.is_empty(), "{empty:?}");
    }
}

#[test]
fn a_yaml_syntax_error_costs_only_its_document() {
    let broken = "apiVersion: v1\nkind: Node\nmetadata: {name: [unclosed\n";
    let text = format!("{SERVICE_YAML}---\n{broken}---\n{NODE_YAML}");
    let (objects, errors) = parse(&text);
    let errors = manifest_errors(&errors);
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].0, 1);
    assert!(errors[0].1.contains("line 11"), "{}", errors[0].1);
    assert_eq!(
        refs(&objects),
        vec![
            r(ObjectKind::Service, "shop", "web"),
            r(ObjectKind::Node, "", "node-a"),
        ]
    );
}

#[test]
fn a_yaml_syntax_error_in_the_last_document_keeps_what_was_read_before() {
    let text = format!("{SERVICE_YAML}---\nkind: Node\nmetadata: {{name: \"unterminated\n");
    let (objects, errors) = parse(&text);
    assert_eq!(indices(&errors), vec![1]);
    assert_eq!(refs(&objects), vec![r(ObjectKind::Service, "shop", "web")]);
}

#[test]
fn document_markers_directives_and_end_markers_are_understood() {
    let text = format!(
        "%YAML 1.2\n---\n{NODE_YAML}...\n%YAML 1.2\n--- # a comment\n{SERVICE_YAML}\
         --- {{apiVersion: v1, kind: Node, metadata: {{name: node-b}}}}\n\
         ---\r\nkey: |\n  ----\n  not a marker\n"
    );
    let (objects, errors) = parse(&text);
    assert_eq!(
        refs(&objects),
        vec![
            r(ObjectKind::Node, "", "node-a"),
            r(ObjectKind::Service, "shop", "web"),
            r(ObjectKind::Node, "", "node-b"),
        ]
    );
    assert_eq!(indices(&errors), vec![3], "the last document has no kind");
}

#[test]
fn hostile_yaml_is_an_error_not_a_panic_or_a_hang() {
    let deep = "[".repeat(10_000);
    let mut laughs = String::from("a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for (name, prev) in [
        ("b", "a"),
        ("c", "b"),
        ("d", "c"),
        ("e", "d"),
        ("f", "e"),
        ("g", "f"),
    ] {
        let refs = vec![format!("*{prev}"); 9].join(", ");
        laughs.push_str(&format!("{name}: &{name} [{refs}]\n"));
    }
    for text in [
        "a: *undefined\n---\napiVersion: v1\nkind: Node\nmetadata: {name: n}\n",
        deep.as_str(),
        laughs.as_str(),
        "? [complex, key]\n: value\n",
        "!!binary aGVsbG8=\n",
        "\tapiVersion: v1\n",
    ] {
        let (objects, errors) = parse(text);
        assert!(!errors.is_empty(), "{text:.40}");
        assert!(objects.len() <= 1, "{text:.40}");
    }
}

#[test]
fn a_json_syntax_error_after_good_objects_keeps_them() {
    let text = r#"{"apiVersion": "v1", "kind": "Node", "metadata": {"name": "a"}}
                  {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "#;
    let (objects, errors) = parse(text);
    assert_eq!(indices(&errors), vec![1]);
    assert_eq!(refs(&objects), vec![r(ObjectKind::Node, "", "a")]);
}

#[test]
fn a_text_starting_with_a_brace_is_json_only() {
    // YAML flow style at the top level is not read: a truncated JSON text must never be read
    // again as YAML.
    let manifest = read("{apiVersion: v1, kind: Node, metadata: {name: node-a}}\n".as_bytes());
    assert!(manifest.objects.is_empty());
    let reason = manifest.unreadable.expect("unreadable");
    assert!(reason.contains("block style"), "{reason}");
}

#[test]
fn namespaced_objects_without_namespace_go_to_default() {
    let text = "\
apiVersion: v1
kind: Service
metadata: {name: web}
spec: {clusterIP: 10.96.0.10, ports: [{port: 80}]}
";
    let (objects, _) = parse(text);
    assert_eq!(
        refs(&objects),
        vec![r(ObjectKind::Service, "default", "web")]
    );
}

#[test]
fn a_list_whose_items_are_not_an_array_is_an_error() {
    let (objects, errors) = parse(r#"{"apiVersion": "v1", "kind": "List", "items": 5}"#);
    assert!(objects.is_empty());
    assert_eq!(indices(&errors), vec![0]);
}

#[test]
fn a_typed_list_naming_its_kind_after_its_items_gives_them_that_kind() {
    // `kubectl get -o json` and the API server sort keys: `items` comes before `kind`.
    let text = r#"{"apiVersion": "v1", "items": [
        {"metadata": {"name": "a"}},
        {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "b"}},
        {"metadata": {"name": "c"}}
    ], "kind": "NodeList", "metadata": {"resourceVersion": "7"}}"#;
    let (objects, errors) = parse(text);
    assert_eq!(manifest_errors(&errors), vec![]);
    assert_eq!(
        refs(&objects),
        vec![
            r(ObjectKind::Node, "", "a"),
            r(ObjectKind::Node, "", "b"),
            r(ObjectKind::Node, "", "c"),
        ],
        "items keep their order"
    );
}

#[test]
fn an_items_field_of_an_object_that_is_not_a_list_is_not_read_as_objects() {
    let text = r#"{"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n"},
                   "items": [{"apiVersion": "v1", "kind": "Node", "metadata": {"name": "inner"}}]}"#;
    let (objects, errors) = parse(text);
    assert_eq!(manifest_errors(&errors), vec![]);
    assert_eq!(refs(&objects), vec![r(ObjectKind::Node, "", "n")]);
}

/// A JSON List of `n` Services, as `kubectl get -o json` prints it.
fn json_list(n: usize) -> String {
    let items: Vec<String> = (0..n)
        .map(|i| {
            format!(
                r#"{{"apiVersion": "v1", "kind": "Service",
                    "metadata": {{"name": "s{i}", "namespace": "ns"}},
                    "spec": {{"clusterIP": "10.96.0.{}", "ports": [{{"port": 80}}]}}}}"#,
                i % 250 + 1
            )
        })
        .collect();
    format!(
        r#"{{"apiVersion": "v1", "items": [{}], "kind": "List"}}"#,
        items.join(",\n")
    )
}

#[test]
fn a_whole_json_list_passes_the_check() {
    let manifest = read(json_list(20).as_bytes());
    assert_eq!(manifest.objects.len(), 20);
    assert_eq!(manifest.check(false), Ok(()));
}

#[test]
fn a_truncated_json_list_is_unreadable_at_any_cut() {
    let text = json_list(20);
    for cut in (1..text.len() - 1).step_by(97) {
        let manifest = read(&text.as_bytes()[..cut]);
        match manifest.check(false) {
            Err(Unusable::Unreadable(reason)) => {
                assert!(reason.contains("truncated"), "cut {cut}: {reason}")
            }
            other => panic!("cut {cut}: {other:?}"),
        }
    }
}

#[test]
fn an_empty_text_is_refused_unless_allowed() {
    for text in [
        "",
        "  \n",
        "\u{feff}",
        "# nothing\n---\n...\n",
        r#"{"kind": "List", "apiVersion": "v1", "items": []}"#,
    ] {
        let manifest = read(text.as_bytes());
        assert_eq!(manifest.check(false), Err(Unusable::Empty), "{text:?}");
        assert_eq!(manifest.check(true), Ok(()), "{text:?}");
    }
}

#[test]
fn text_that_is_not_objects_is_refused() {
    for text in [
        "hello world\n",
        "42",
        "- a\n- b\n",
        "[1, 2]",
        "\"just a string\"",
    ] {
        let manifest = read(text.as_bytes());
        assert!(
            matches!(
                manifest.check(true),
                Err(Unusable::NothingUsable { .. } | Unusable::Unreadable(_))
            ),
            "{text:?}: {:?}",
            manifest.check(true)
        );
    }
}

/// Runs `f`, timing it by the wall clock: the issue asks that hostile texts be refused in
/// under a second, a bound generous enough for a loaded machine (they take milliseconds).
#[allow(clippy::disallowed_types)]
fn timed<T>(f: impl FnOnce() -> T) -> (T, Duration) {
    let started = std::time::Instant::now();
    let value = f();
    (value, started.elapsed())
}

/// A YAML "billion laughs": nine references per level, eight levels.
fn alias_bomb() -> String {
    let mut text = String::from("a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    let names = ["a", "b", "c", "d", "e", "f", "g", "h", "i"];
    for pair in names.windows(2) {
        let refs = vec![format!("*{}", pair[0]); 9].join(", ");
        text.push_str(&format!("{}: &{} [{refs}]\n", pair[1], pair[1]));
    }
    text
}

#[test]
fn an_alias_bomb_is_refused_quickly() {
    let (manifest, elapsed) = timed(|| read(alias_bomb().as_bytes()));
    assert!(manifest.check(true).is_err());
    let (_, reason) = manifest_errors(&manifest.errors).remove(0);
    assert!(reason.contains("repetition limit"), "{reason}");
    assert!(elapsed < Duration::from_secs(1), "{elapsed:?}");
}

#[test]
fn deeply_nested_json_is_refused_in_under_a_second() {
    let text = r#"{"a":"#.repeat(120_000); // 600 KB
    let (manifest, elapsed) = timed(|| read(text.as_bytes()));
    let reason = manifest.unreadable.expect("unreadable");
    assert!(reason.contains("nested deeper than 128 levels"), "{reason}");
    assert!(elapsed < Duration::from_secs(1), "{elapsed:?}");
}

#[test]
fn deeply_nested_yaml_costs_only_its_document_and_no_time() {
    let text = format!(
        "{SERVICE_YAML}---\na: {}\n---\n{SLICE_YAML}",
        "[".repeat(200_000)
    );
    let (manifest, elapsed) = timed(|| read(text.as_bytes()));
    assert!(elapsed < Duration::from_secs(1), "{elapsed:?}");
    assert_eq!(manifest.objects.len(), 2);
    let errors = manifest_errors(&manifest.errors);
    assert_eq!(errors.len(), 1);
    assert!(
        errors[0]
            .1
            .contains("nested deeper than 128 levels at line 2"),
        "{errors:?}"
    );
    assert_eq!(
        manifest.check(false),
        Ok(()),
        "a bad document of a stream is named and skipped"
    );
}

#[test]
fn a_yaml_list_that_fails_to_read_makes_the_text_unreadable() {
    let text = format!("{NODE_YAML}---\napiVersion: v1\nkind: List\nitems:\n- {{bad\n");
    let manifest = read(text.as_bytes());
    assert_eq!(manifest.objects.len(), 1);
    let reason = manifest.unreadable.clone().expect("unreadable");
    assert!(reason.contains("a List failed to read"), "{reason}");
    assert!(manifest.check(false).is_err());
}

#[test]
fn a_kind_whose_every_object_is_invalid_is_refused() {
    let bad_service = "apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec: {ports: 5}\n";
    let text = format!("{bad_service}---\n{SLICE_YAML}");
    let manifest = read(text.as_bytes());
    assert_eq!(
        manifest.check(false),
        Err(Unusable::KindLost {
            kind: ObjectKind::Service,
            skipped: 1
        })
    );
    // One good Service beside it: the bad one is skipped with a warning, the rest applied.
    let text = format!("{SERVICE_YAML}---\n{bad_service}---\n{SLICE_YAML}");
    let manifest = read(text.as_bytes());
    assert_eq!(manifest.errors.len(), 1);
    assert_eq!(manifest.check(false), Ok(()));
}

#[test]
fn a_text_over_the_size_limit_is_refused() {
    let text = json_list(50);
    let manifest = read_with_limit(text.as_bytes(), 1000);
    let reason = manifest.unreadable.expect("unreadable");
    assert!(
        reason.contains("larger than the limit of 1000 bytes"),
        "{reason}"
    );
    let yaml = SERVICE_YAML;
    let manifest = read_with_limit(yaml.as_bytes(), 10);
    assert!(manifest.unreadable.is_some());
    assert_eq!(read_with_limit(yaml.as_bytes(), 1000).check(false), Ok(()));
}

/// Each object as JSON, to compare two reads field by field.
fn as_json(objects: &[KubeObject]) -> Vec<String> {
    objects
        .iter()
        .map(|o| match o {
            KubeObject::Service(s) => serde_json::to_string(s),
            KubeObject::EndpointSlice(s) => serde_json::to_string(s),
            KubeObject::Node(n) => serde_json::to_string(n),
        })
        .map(|r| r.expect("serialize"))
        .collect()
}

/// Indents every line of `text` by `n` spaces.
fn indent(text: &str, n: usize) -> String {
    text.lines()
        .map(|line| format!("{}{line}\n", " ".repeat(n)))
        .collect()
}

#[test]
fn a_yaml_list_read_item_by_item_equals_its_items_read_as_documents() {
    // Indented and compact sequences, comments, blank lines, block and multi-line scalars,
    // an entry whose content starts on the next line, a typed list naming its kind last.
    let web = "\
apiVersion: v1
kind: Service
metadata:
  name: web
  annotations:
    note: |
      a block scalar
      - that looks like an entry
    other: a plain scalar
      continued on the next line
spec: {clusterIP: 10.96.0.10, ports: [{port: 80}]}
";
    let kindless = "\
metadata: {name: kindless}
spec:
  clusterIP: 10.96.0.11
  ports:
  - port: 81
";
    let documents = format!("{web}---\napiVersion: v1\nkind: Service\n{kindless}");
    let (expected, errors) = parse(&documents);
    assert_eq!(manifest_errors(&errors), vec![]);
    assert_eq!(expected.len(), 2);
    for column in [0, 2] {
        let first = indent(web, column + 2);
        let first = format!("{}- {}", " ".repeat(column), &first[column + 2..]);
        let list = format!(
            "apiVersion: v1\nitems:\n{first}\n# a comment between items\n{}-\n{}kind: ServiceList\nmetadata: {{}}\n",
            " ".repeat(column),
            indent(kindless, column + 2)
        );
        let (objects, errors) = parse(&list);
        assert_eq!(manifest_errors(&errors), vec![], "{list}");
        assert_eq!(as_json(&objects), as_json(&expected), "{list}");
    }
}

#[test]
fn a_bad_item_of_a_yaml_list_makes_the_text_unreadable() {
    let text = "apiVersion: v1\nitems:\n- apiVersion: v1\n  kind: Node\n  metadata: {name: a}\n- apiVersion: v1\n  kind: Node\n  metadata: {name: [b\nkind: List\n";
    let manifest = read(text.as_bytes());
    let reason = manifest.unreadable.expect("unreadable");
    assert!(reason.contains("a List failed to read"), "{reason}");
    assert!(reason.contains("item 1"), "{reason}");
    assert!(manifest.objects.is_empty(), "nothing of the List is kept");
}
