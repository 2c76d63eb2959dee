//! Rule specs as the planner writes them (`-d 10.96.0.10/32 -p tcp -m tcp --dport 80 -j X`),
//! parsed into matches and a target. Only the options the planner uses are known; anything else
//! is an error, so the checker never guesses.

use std::net::{IpAddr, SocketAddr};

use ipnet::IpNet;
use proxy_core::model::Protocol;

/// One match of a rule.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Match {
    /// `[!] -s NET`.
    Src { negate: bool, net: IpNet },
    /// `[!] -d NET`.
    Dst { negate: bool, net: IpNet },
    /// `-p PROTO`.
    Proto(Protocol),
    /// `-m tcp|udp|sctp --dport N`.
    Dport(u16),
    /// `-m statistic --mode random --probability P`.
    Random(f64),
    /// `-m recent --rcheck ...`: a remembered client (never, in a trace).
    Remembered,
    /// `-m addrtype --src-type LOCAL` (`src`) or `--dst-type LOCAL`.
    Local { src: bool },
    /// `-m mark [!] --mark V/M`: postrouting only, not traced.
    Mark,
}

/// What a rule does when it matches.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Target {
    /// No `-j`: only counts.
    None,
    /// `-j CHAIN`.
    Chain(String),
    /// `-j ACCEPT`.
    Accept,
    /// `-j DROP`.
    Drop,
    /// `-j REJECT`.
    Reject,
    /// `-j RETURN`.
    Return,
    /// `-j DNAT --to-destination ADDR`.
    Dnat(SocketAddr),
    /// `-j MARK ...`: sets a mark and goes on.
    Mark,
    /// `-j MASQUERADE ...`: postrouting only.
    Masquerade,
}

/// A parsed rule.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Rule {
    pub matches: Vec<Match>,
    pub target: Target,
}

/// Splits a spec into words, honouring `"..."` with `\` escapes (the restore format's quoting).
pub(super) fn words(spec: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut chars = spec.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        let mut word = String::new();
        if c == '"' {
            chars.next();
            loop {
                match chars.next() {
                    Some('"') => break,
                    Some('\\') => word.push(chars.next().ok_or("dangling escape")?),
                    Some(c) => word.push(c),
                    None => return Err(format!("unterminated quote in {spec:?}")),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                word.push(c);
                chars.next();
            }
        }
        out.push(word);
    }
    Ok(out)
}

/// Parses a rule from its words.
pub(super) fn parse(words: &[String]) -> Result<Rule, String> {
    let mut it = words.iter().map(String::as_str);
    let mut next = |what: &str| {
        it.next()
            .ok_or_else(|| format!("{what} without a value in {words:?}"))
    };
    let mut rule = Rule {
        matches: Vec::new(),
        target: Target::None,
    };
    let mut negate = false;
    let mut recent_check = false;
    loop {
        let Ok(word) = next("") else { break };
        match word {
            "!" => {
                negate = true;
                continue;
            }
            "-s" | "-d" => {
                let net = net(next(word)?)?;
                rule.matches.push(if word == "-s" {
                    Match::Src { negate, net }
                } else {
                    Match::Dst { negate, net }
                });
            }
            "-p" => rule.matches.push(Match::Proto(
                Protocol::from_k8s(&next(word)?.to_uppercase()).ok_or("unknown protocol")?,
            )),
            "-m" => {
                let module = next(word)?;
                if !matches!(
                    module,
                    "comment"
                        | "tcp"
                        | "udp"
                        | "sctp"
                        | "statistic"
                        | "recent"
                        | "addrtype"
                        | "conntrack"
                        | "mark"
                ) {
                    return Err(format!("unknown module {module}"));
                }
            }
            "--comment" | "--name" | "--seconds" | "--mode" => {
                next(word)?;
            }
            "--reap" | "--set" | "--random-fully" => {}
            "--rcheck" => recent_check = true,
            "--ctstate" if next(word)? == "NEW" => {}
            "--dport" => rule.matches.push(Match::Dport(
                next(word)?.parse().map_err(|e| format!("--dport: {e}"))?,
            )),
            "--probability" => rule.matches.push(Match::Random(
                next(word)?
                    .parse()
                    .map_err(|e| format!("--probability: {e}"))?,
            )),
            "--src-type" | "--dst-type" if next(word)? == "LOCAL" => {
                rule.matches.push(Match::Local {
                    src: word == "--src-type",
                });
            }
            "--mark" => {
                next(word)?;
                rule.matches.push(Match::Mark);
            }
            "-j" => rule.target = target(next(word)?),
            "--to-destination" => {
                let addr = next(word)?;
                let to = addr
                    .parse()
                    .map_err(|e| format!("--to-destination {addr}: {e}"))?;
                rule.target = Target::Dnat(to);
            }
            "--or-mark" | "--xor-mark" => {
                next(word)?;
            }
            other => return Err(format!("unknown option {other} in {words:?}")),
        }
        negate = false;
    }
    if recent_check {
        rule.matches.push(Match::Remembered);
    }
    Ok(rule)
}

/// The target named `name` (its options, such as `--to-destination`, follow it).
fn target(name: &str) -> Target {
    match name {
        "ACCEPT" => Target::Accept,
        "DROP" => Target::Drop,
        "REJECT" => Target::Reject,
        "RETURN" => Target::Return,
        "DNAT" => Target::Dnat(SocketAddr::new(IpAddr::from([0, 0, 0, 0]), 0)),
        "MARK" => Target::Mark,
        "MASQUERADE" => Target::Masquerade,
        chain => Target::Chain(chain.to_owned()),
    }
}

/// `ADDR/LEN` or `ADDR`.
fn net(s: &str) -> Result<IpNet, String> {
    s.parse::<IpNet>()
        .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
        .map_err(|e| format!("address {s}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_planner_shapes() {
        let w = words(
            r#"! -s 10.244.0.0/16 -d 10.96.0.10/32 -p tcp -m comment --comment "a \"b\" c" -m tcp --dport 80 -j SVCP-X"#,
        )
        .expect("words");
        assert_eq!(w[10], "a \"b\" c");
        let r = parse(&w).expect("rule");
        assert_eq!(r.target, Target::Chain("SVCP-X".into()));
        assert_eq!(r.matches.len(), 4);
        assert!(matches!(r.matches[0], Match::Src { negate: true, .. }));
        assert!(matches!(r.matches[1], Match::Dst { negate: false, .. }));
        let dnat = parse(&words("-p tcp -j DNAT --to-destination [fd00::2]:8080").expect("w"))
            .expect("rule");
        assert_eq!(
            dnat.target,
            Target::Dnat("[fd00::2]:8080".parse().expect("addr"))
        );
        assert!(parse(&words("-m owner --uid-owner 0 -j ACCEPT").expect("w")).is_err());
    }
}
