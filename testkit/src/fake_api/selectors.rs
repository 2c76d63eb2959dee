//! Label and field selectors in the API server's query syntax, parsed and matched against
//! stored objects.
//!
//! Labels: `k=v` (or `k==v`), `k!=v`, `k in (a,b)`, `k notin (a,b)`, `k` (exists) and `!k`
//! (does not exist), joined by commas; all must hold. As on the real server, `!=` and `notin`
//! also match objects without the label. Fields: `f=v`, `f==v`, `f!=v` on the fields listed in
//! [`FIELDS`].

use std::collections::BTreeSet;

use serde_json::Value;

use super::kind::Kind;

/// Fields every kind can be selected by, and the kind-specific ones (JSON path, with `.`).
pub const FIELDS: &[(Option<Kind>, &str)] = &[
    (None, "metadata.name"),
    (None, "metadata.namespace"),
    (Some(Kind::Service), "spec.clusterIP"),
    (Some(Kind::Service), "spec.type"),
    (Some(Kind::EndpointSlice), "addressType"),
    (Some(Kind::Node), "spec.unschedulable"),
];

/// One label requirement.
#[derive(Clone, Debug, PartialEq, Eq)]
enum LabelOp {
    In(BTreeSet<String>),
    NotIn(BTreeSet<String>),
    Exists,
    NotExists,
}

/// A parsed label selector; the empty one matches everything.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LabelSelector {
    requirements: Vec<(String, LabelOp)>,
}

/// A parsed field selector; the empty one matches everything.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FieldSelector {
    /// (field path, value, whether it must equal (`true`) or differ (`false`)).
    requirements: Vec<(String, String, bool)>,
}

impl LabelSelector {
    /// Parses `text` (the `labelSelector` query parameter); the error says what is wrong.
    pub fn parse(text: &str) -> Result<LabelSelector, String> {
        let mut requirements = Vec::new();
        for part in split_top_level(text)? {
            let part = part.trim();
            if part.is_empty() {
                continue;
            }
            requirements.push(parse_requirement(part)?);
        }
        Ok(LabelSelector { requirements })
    }

    /// Whether the selector selects nothing out (no requirements).
    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    /// Whether `object`'s `metadata.labels` satisfy every requirement.
    pub fn matches(&self, object: &Value) -> bool {
        let labels = object.pointer("/metadata/labels");
        self.requirements.iter().all(|(key, op)| {
            let value = labels.and_then(|l| l.get(key)).and_then(Value::as_str);
            match (op, value) {
                (LabelOp::In(set), Some(v)) => set.contains(v),
                (LabelOp::In(_), None) => false,
                (LabelOp::NotIn(set), Some(v)) => !set.contains(v),
                (LabelOp::NotIn(_), None) => true,
                (LabelOp::Exists, v) => v.is_some(),
                (LabelOp::NotExists, v) => v.is_none(),
            }
        })
    }
}

impl FieldSelector {
    /// Parses `text` (the `fieldSelector` query parameter) for objects of `kind`.
    pub fn parse(text: &str, kind: Kind) -> Result<FieldSelector, String> {
        let mut requirements = Vec::new();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (field, value, equal) = if let Some((f, v)) = part.split_once("!=") {
                (f, v, false)
            } else if let Some((f, v)) = part.split_once("==") {
                (f, v, true)
            } else if let Some((f, v)) = part.split_once('=') {
                (f, v, true)
            } else {
                return Err(format!("invalid field selector requirement {part:?}"));
            };
            let field = field.trim();
            let supported = FIELDS
                .iter()
                .any(|(k, f)| *f == field && k.is_none_or(|k| k == kind));
            if !supported {
                return Err(format!(
                    "field label not supported: {field} (for {})",
                    kind.plural()
                ));
            }
            requirements.push((field.to_owned(), value.trim().to_owned(), equal));
        }
        Ok(FieldSelector { requirements })
    }

    /// Whether the selector selects nothing out (no requirements).
    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    /// Whether `object`'s fields satisfy every requirement.
    pub fn matches(&self, object: &Value) -> bool {
        self.requirements.iter().all(|(field, wanted, equal)| {
            let pointer = format!("/{}", field.replace('.', "/"));
            let actual = match object.pointer(&pointer) {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Bool(b)) => b.to_string(),
                Some(Value::Number(n)) => n.to_string(),
                // An absent boolean reads as false on the real server, anything else as "".
                _ if field == "spec.unschedulable" => "false".to_owned(),
                _ => String::new(),
            };
            (actual == *wanted) == *equal
        })
    }
}

/// Splits at commas that are not inside `( )`.
fn split_top_level(text: &str) -> Result<Vec<&str>, String> {
    let (mut parts, mut depth, mut start) = (Vec::new(), 0u32, 0);
    for (i, c) in text.char_indices() {
        match c {
            '(' if depth == 0 => depth = 1,
            '(' => return Err(format!("nested parentheses in label selector {text:?}")),
            ')' if depth == 1 => depth = 0,
            ')' => return Err(format!("unbalanced ')' in label selector {text:?}")),
            ',' if depth == 0 => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if depth != 0 {
        return Err(format!("unclosed '(' in label selector {text:?}"));
    }
    parts.push(&text[start..]);
    Ok(parts)
}

/// Parses one requirement (no top-level comma in it).
fn parse_requirement(part: &str) -> Result<(String, LabelOp), String> {
    if let Some(key) = part.strip_prefix('!') {
        return Ok((label_key(key)?, LabelOp::NotExists));
    }
    if let Some((key, value)) = part.split_once("!=") {
        return Ok((label_key(key)?, LabelOp::NotIn(one(label_value(value)?))));
    }
    if let Some((key, value)) = part.split_once("==").or_else(|| part.split_once('=')) {
        return Ok((label_key(key)?, LabelOp::In(one(label_value(value)?))));
    }
    let mut words = part.splitn(2, char::is_whitespace);
    let key = words.next().unwrap_or_default();
    let Some(rest) = words.next() else {
        return Ok((label_key(key)?, LabelOp::Exists));
    };
    let rest = rest.trim_start();
    let (negated, set) = if let Some(set) = rest.strip_prefix("notin") {
        (true, set)
    } else if let Some(set) = rest.strip_prefix("in") {
        (false, set)
    } else {
        return Err(format!("invalid label selector requirement {part:?}"));
    };
    let values = parse_set(set.trim(), part)?;
    let op = if negated {
        LabelOp::NotIn(values)
    } else {
        LabelOp::In(values)
    };
    Ok((label_key(key)?, op))
}

/// Parses `(a, b, c)`.
fn parse_set(text: &str, part: &str) -> Result<BTreeSet<String>, String> {
    let inner = text
        .strip_prefix('(')
        .and_then(|t| t.strip_suffix(')'))
        .ok_or_else(|| format!("expected a (set) in label selector requirement {part:?}"))?;
    inner.split(',').map(label_value).collect()
}

fn one(value: String) -> BTreeSet<String> {
    BTreeSet::from([value])
}

/// A label key: a name of `[A-Za-z0-9._-]`, optionally after a DNS prefix and `/`.
fn label_key(key: &str) -> Result<String, String> {
    let key = key.trim();
    let valid = !key.is_empty()
        && key.split('/').count() <= 2
        && key
            .split('/')
            .all(|p| !p.is_empty() && p.chars().all(label_char));
    if valid {
        Ok(key.to_owned())
    } else {
        Err(format!("invalid label key {key:?}"))
    }
}

/// A label value: empty, or `[A-Za-z0-9._-]`.
fn label_value(value: &str) -> Result<String, String> {
    let value = value.trim();
    if value.chars().all(label_char) {
        Ok(value.to_owned())
    } else {
        Err(format!("invalid label value {value:?}"))
    }
}

fn label_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn labelled(labels: Value) -> Value {
        json!({"metadata": {"name": "a", "namespace": "ns", "labels": labels}})
    }

    #[test]
    fn upstream_service_proxy_selectors() {
        let s = LabelSelector::parse(
            "!service.kubernetes.io/service-proxy-name,!service.kubernetes.io/headless",
        )
        .expect("parses");
        assert!(s.matches(&labelled(json!({"app": "web"}))));
        assert!(s.matches(&json!({"metadata": {"name": "no-labels"}})));
        assert!(!s.matches(&labelled(json!({"service.kubernetes.io/headless": ""}))));
        assert!(!s.matches(&labelled(
            json!({"service.kubernetes.io/service-proxy-name": "other"})
        )));
    }

    #[test]
    fn every_operator() {
        let obj = labelled(json!({"app": "web", "tier": "front"}));
        let cases = [
            ("app=web", true),
            ("app==web", true),
            ("app=db", false),
            ("app!=db", true),
            ("missing!=x", true),
            ("app in (db, web)", true),
            ("app in (db)", false),
            ("app notin (db)", true),
            ("missing notin (db)", true),
            ("missing in (db)", false),
            ("tier", true),
            ("missing", false),
            ("!tier", false),
            ("app=web,tier in (front,back),!gone", true),
            ("app=web,tier=back", false),
            ("", true),
        ];
        for (text, want) in cases {
            let s = LabelSelector::parse(text).expect(text);
            assert_eq!(s.matches(&obj), want, "{text}");
        }
    }

    #[test]
    fn bad_label_selectors_are_errors() {
        for bad in [
            "app in db",
            "app in (a",
            "a b c",
            "=x",
            "app=(x)",
            "a/b/c=1",
        ] {
            assert!(LabelSelector::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn field_selectors() {
        let node = json!({"metadata": {"name": "node-a"}, "spec": {}});
        let by_name = FieldSelector::parse("metadata.name=node-a", Kind::Node).expect("parses");
        assert!(by_name.matches(&node));
        let other = FieldSelector::parse("metadata.name==node-b", Kind::Node).expect("parses");
        assert!(!other.matches(&node));
        let schedulable =
            FieldSelector::parse("spec.unschedulable!=true", Kind::Node).expect("parses");
        assert!(schedulable.matches(&node));
        assert!(FieldSelector::parse("spec.clusterIP=1.2.3.4", Kind::Node).is_err());
        assert!(FieldSelector::parse("metadata.name", Kind::Node).is_err());
    }
}
