//! `manifest::parse` over well-formed and broken text.

use proptest::prelude::*;
use proxy_core::{KubeObject, manifest};
use testkit::arb::{self, text};

proptest! {
    #![proptest_config(arb::config(512))]

    /// Any text, however broken, is read without a panic.
    #[test]
    fn broken_text_never_panics(t in text::broken_text()) {
        let _ = manifest::parse(&t);
    }

    /// A well-formed manifest reads back as exactly its objects, in order, with one error per
    /// object of a kind svcproxy does not read.
    #[test]
    fn well_formed_manifests_read_back(m in text::manifest(8)) {
        let (objects, errors) = manifest::parse(&m.text);
        let want: Vec<KubeObject> = m.values.iter().filter_map(arb::typed).collect();
        prop_assert_eq!(errors.len(), m.values.len() - want.len(), "{:?}\n{}", errors, m.text);
        prop_assert_eq!(objects, want, "{:?}\n{}", m.format, m.text);
    }
}

/// The inputs of issue 7 that made svcproxy drop every service, at sizes that keep this test
/// fast (`{"a":` nesting costs time quadratic in the depth until the parser bounds it).
#[test]
fn alias_bombs_and_deep_nesting_are_read_without_a_panic() {
    let (objects, errors) = manifest::parse(&text::alias_bomb(9, 9));
    assert!(objects.is_empty() && !errors.is_empty(), "{errors:?}");
    for open in ["{\"a\":", "[", "- "] {
        let (objects, errors) = manifest::parse(&open.repeat(3_000));
        assert!(
            objects.is_empty() && !errors.is_empty(),
            "{open}: {errors:?}"
        );
    }
}
