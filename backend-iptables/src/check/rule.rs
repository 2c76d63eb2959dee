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
    let mut p = Parser {
        words: words.iter().map(String::as_str),
        rule: Rule {
            matches: Vec::new(),
            target: Target::None,
        },
        recent_check: false,
    };
    let mut negate = false;
    while let Some(word) = p.words.next() {
        if word == "!" {
            negate = true;
            continue;
        }
        p.option(word, negate)
            .map_err(|e| format!("{e} in {words:?}"))?;
        negate = false;
    }
    if p.recent_check {
        p.rule.matches.push(Match::Remembered);
    }
    Ok(p.rule)
}

/// The state of [`parse`].
struct Parser<'a, I: Iterator<Item = &'a str>> {
    words: I,
    rule: Rule,
    recent_check: bool,
}

impl<'a, I: Iterator<Item = &'a str>> Parser<'a, I> {
    /// The value of option `what`.
    fn value(&mut self, what: &str) -> Result<&'a str, String> {
        self.words
            .next()
            .ok_or_else(|| format!("{what} without a value"))
    }

    /// Reads option `word` (and its value), negated by a `!` before it.
    fn option(&mut self, word: &str, negate: bool) -> Result<(), String> {
        match word {
            "-s" | "-d" => {
                let net = net(self.value(word)?)?;
                self.rule.matches.push(if word == "-s" {
                    Match::Src { negate, net }
                } else {
                    Match::Dst { negate, net }
                });
            }
            "-p" => {
                let p = self.value(word)?.to_uppercase();
                let proto = Protocol::from_k8s(&p).ok_or("unknown protocol")?;
                self.rule.matches.push(Match::Proto(proto));
            }
            "-m" => match self.value(word)? {
                "comment" | "tcp" | "udp" | "sctp" | "statistic" | "recent" | "addrtype"
                | "conntrack" | "mark" => {}
                module => return Err(format!("unknown module {module}")),
            },
            "--comment" | "--name" | "--seconds" | "--mode" | "--or-mark" | "--xor-mark" => {
                self.value(word)?;
            }
            "--reap" | "--set" | "--random-fully" => {}
            "--rcheck" => self.recent_check = true,
            "--ctstate" => expect(self.value(word)?, "NEW")?,
            "--dport" => {
                let port = self
                    .value(word)?
                    .parse()
                    .map_err(|e| format!("--dport: {e}"))?;
                self.rule.matches.push(Match::Dport(port));
            }
            "--probability" => {
                let p = self.value(word)?;
                let p = p.parse().map_err(|e| format!("--probability: {e}"))?;
                self.rule.matches.push(Match::Random(p));
            }
            "--src-type" | "--dst-type" => {
                expect(self.value(word)?, "LOCAL")?;
                let src = word == "--src-type";
                self.rule.matches.push(Match::Local { src });
            }
            "--mark" => {
                self.value(word)?;
                self.rule.matches.push(Match::Mark);
            }
            "-j" => self.rule.target = target(self.value(word)?),
            "--to-destination" => {
                let addr = self.value(word)?;
                let to = addr
                    .parse()
                    .map_err(|e| format!("--to-destination {addr}: {e}"))?;
                self.rule.target = Target::Dnat(to);
            }
            other => return Err(format!("unknown option {other}")),
        }
        Ok(())
    }
}

/// `Ok` when an option's value is the only one the planner writes.
fn expect(got: &str, want: &str) -> Result<(), String> {
    if got == want {
        Ok(())
    } else {
        Err(format!(
            "unexpected value {got} (the planner writes {want})"
        ))
    }
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
