//! Rendered text that `nft` 1.0.6 can load.
//!
//! svcproxy's dispatch rules compare a data-map lookup with a dispatch id,
//! `KEY map @m 0x01000003 goto endpoints-3` (and `KEY map @m != 0x00000000 goto m-dispatch`):
//! a lookup into a register and a `cmp` of that register (see `backend-nft/README.md`).
//! `nft` 1.0.6 *lists* such a rule (printing the id as `0x1000003 [invalid type]`: it does
//! not carry the map's data type over to the comparison) but its parser refuses it (a map is
//! not accepted as the left side of a comparison). To load a rendered ruleset or transaction
//! with `nft -f`, tests spell it `ct mark set KEY map @m ct mark 0x01000003 goto endpoints-3`:
//! the same lookup and comparison with the id passed through the conntrack mark instead of a
//! bare register (which svcproxy never does: the mark belongs to others). Loaded that way, a
//! ruleset is checked by the kernel like svcproxy's own (types, hooks of every chain a
//! dispatch rule reaches, loops) and carries traffic the same.

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

/// `text` with every `KEY map @m [!=] ID` spelled `ct mark set KEY map @m ct mark [!=] ID`.
pub fn loadable(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        out.push_str(&loadable_line(line));
    }
    out
}

/// Where the dispatch comparison of `line` is: the offset of ` map @NAME ` and of what
/// follows it, when that is an id (`0x...` or `!= 0x...`).
fn dispatch_cmp(line: &str) -> Option<(usize, usize)> {
    let mut from = 0;
    while let Some(i) = line[from..].find(" map @") {
        let map = from + i;
        let name_end = line[map + 6..].find(' ').map(|e| map + 6 + e)?;
        let rest = &line[name_end + 1..];
        if rest.starts_with("0x") || rest.starts_with("!= 0x") {
            return Some((map, name_end + 1));
        }
        from = name_end;
    }
    None
}

fn loadable_line(line: &str) -> String {
    let Some((map, cmp)) = dispatch_cmp(line) else {
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
        "{}ct mark set {}ct mark {}",
        &line[..start],
        &line[start..cmp],
        &line[cmp..]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewrites_only_the_dispatch() {
        assert_eq!(
            loadable(
                "\t\tip daddr @nodeport-ips meta l4proto . th dport map @service-nodeports != 0x00000000 goto service-nodeports-dispatch\n\
                 \t\tdnat ip to ip daddr . meta l4proto . th dport . numgen random mod 3 map @service-endpoints\n\
                 add rule ip t c meta l4proto tcp ct original ip daddr . meta l4proto . ct original proto-dst map @a 0x09002a30 goto affinity-60\n"
            ),
            "\t\tip daddr @nodeport-ips ct mark set meta l4proto . th dport map @service-nodeports ct mark != 0x00000000 goto service-nodeports-dispatch\n\
             \t\tdnat ip to ip daddr . meta l4proto . th dport . numgen random mod 3 map @service-endpoints\n\
             add rule ip t c meta l4proto tcp ct mark set ct original ip daddr . meta l4proto . ct original proto-dst map @a ct mark 0x09002a30 goto affinity-60\n"
        );
    }
}
