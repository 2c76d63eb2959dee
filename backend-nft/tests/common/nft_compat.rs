//! Rendered text that `nft` 1.0.6 can load.
//!
//! svcproxy dispatches with `KEY map @m vmap @dispatch`: a data-map lookup into a register,
//! then a verdict-map lookup of that register (see `backend-nft/README.md`). `nft` 1.0.6 prints
//! such a rule in exactly that syntax but its parser does not accept it (`map` is not allowed
//! as the key of `vmap`). To load a rendered ruleset or transaction with `nft -f`, tests spell
//! it `ct mark set KEY map @m ct mark vmap @dispatch`: the same two lookups with the id passed
//! through the conntrack mark instead of a bare register (which svcproxy never does: the mark
//! belongs to others). Loaded that way, a ruleset is checked by the kernel like svcproxy's own
//! (types, hooks of every chain a dispatch map reaches, loops) and carries traffic the same.
//!
//! `nft` 1.0.6 cannot *list* the register form either: it aborts on such a rule
//! (`netlink_parse_concat_expr: Assertion 'consumed > 0' failed`), see the kernel tests.

/// The key expressions svcproxy uses, longest first (so `ct original ip daddr` is not taken
/// for `ip daddr`).
const KEY_EXPRS: [&str; 9] = [
    "ct original ip6 daddr",
    "ct original ip daddr",
    "ct original proto-dst",
    "meta l4proto",
    "ip6 daddr",
    "ip6 saddr",
    "ip daddr",
    "ip saddr",
    "th dport",
];

/// `text` with every `KEY map @m vmap @d` spelled `ct mark set KEY map @m ct mark vmap @d`.
pub fn loadable(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        out.push_str(&loadable_line(line));
    }
    out
}

fn loadable_line(line: &str) -> String {
    let Some(vmap) = line.find(" vmap @") else {
        return line.to_owned();
    };
    let Some(map) = line[..vmap].rfind(" map @") else {
        return line.to_owned();
    };
    // Walk back over `EXPR . EXPR . EXPR`.
    let mut start = map;
    loop {
        let Some(e) = KEY_EXPRS.iter().find(|e| line[..start].ends_with(*e)) else {
            panic!("no key expression before `map` in {line:?}");
        };
        start -= e.len();
        if line[..start].ends_with(" . ") {
            start -= 3;
        } else {
            break;
        }
    }
    format!(
        "{}ct mark set {} ct mark{}",
        &line[..start],
        &line[start..vmap],
        &line[vmap..]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewrites_only_the_dispatch() {
        assert_eq!(
            loadable(
                "\t\tip daddr @nodeport-ips meta l4proto . th dport map @service-nodeports vmap @dispatch\n\
                 \t\tip daddr . meta l4proto . th dport vmap @x\n\
                 add rule ip t c meta l4proto tcp ct original ip daddr . meta l4proto . ct original proto-dst map @a vmap @dispatch\n"
            ),
            "\t\tip daddr @nodeport-ips ct mark set meta l4proto . th dport map @service-nodeports ct mark vmap @dispatch\n\
             \t\tip daddr . meta l4proto . th dport vmap @x\n\
             add rule ip t c meta l4proto tcp ct mark set ct original ip daddr . meta l4proto . ct original proto-dst map @a ct mark vmap @dispatch\n"
        );
    }
}
