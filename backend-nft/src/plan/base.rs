//! The static part of the ruleset: base chains with kube-proxy's hook/priority contract, the
//! static regular chains and their rules, the shared sets and maps, the configuration-derived
//! elements (CIDRs), the rules of the shared per-endpoint-count chains, and the dispatch rules
//! that send a dispatch id to its target.
//!
//! All of it is data built from the configuration; nothing here depends on services.

use ipnet::IpNet;
use proxy_core::model::Protocol;
use proxy_core::policy::{FamilyView, NodePorts};

use crate::ir::{
    Addr, Chain, ChainType, CmpOp, DynsetOp, Element, Expr, Family, Field, Hook, PRIORITY_DSTNAT,
    PRIORITY_SRCNAT, Rule, SetDef, Stmt, Value, Verdict,
};
use crate::names::{self, SetName, SharedChain, Target};

/// The base chains: name, type, hook, priority (kube-proxy's contract, plus
/// `filter-prerouting-post-dnat` for ClientIP affinity).
pub(crate) const BASE_CHAINS: [(&str, ChainType, Hook, i32); 9] = [
    (
        names::FILTER_PREROUTING,
        ChainType::Filter,
        Hook::Prerouting,
        PRIORITY_DSTNAT - 10,
    ),
    (
        names::FILTER_INPUT,
        ChainType::Filter,
        Hook::Input,
        PRIORITY_DSTNAT - 10,
    ),
    (
        names::FILTER_FORWARD,
        ChainType::Filter,
        Hook::Forward,
        PRIORITY_DSTNAT - 10,
    ),
    (
        names::FILTER_OUTPUT,
        ChainType::Filter,
        Hook::Output,
        PRIORITY_DSTNAT - 10,
    ),
    (
        names::FILTER_OUTPUT_POST_DNAT,
        ChainType::Filter,
        Hook::Output,
        PRIORITY_DSTNAT + 10,
    ),
    (
        names::FILTER_PREROUTING_POST_DNAT,
        ChainType::Filter,
        Hook::Prerouting,
        PRIORITY_DSTNAT + 10,
    ),
    (
        names::NAT_PREROUTING,
        ChainType::Nat,
        Hook::Prerouting,
        PRIORITY_DSTNAT,
    ),
    (
        names::NAT_OUTPUT,
        ChainType::Nat,
        Hook::Output,
        PRIORITY_DSTNAT,
    ),
    (
        names::NAT_POSTROUTING,
        ChainType::Nat,
        Hook::Postrouting,
        PRIORITY_SRCNAT,
    ),
];

/// Which packets a base chain sends on.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Guard {
    /// Every packet.
    All,
    /// `ct state new`: first packets of connections.
    New,
    /// `ct state new ct status dnat`: first packets that were destination-NATed.
    NewDnat,
}

/// The jumps from base chains: (from, to, guard), in rule order.
pub(crate) const JUMPS: [(&str, &str, Guard); 13] = [
    (names::FILTER_PREROUTING, names::FIREWALL_CHECK, Guard::New),
    (
        names::FILTER_INPUT,
        names::NODEPORT_ENDPOINTS_CHECK,
        Guard::New,
    ),
    (
        names::FILTER_INPUT,
        names::SERVICE_ENDPOINTS_CHECK,
        Guard::New,
    ),
    (
        names::FILTER_FORWARD,
        names::SERVICE_ENDPOINTS_CHECK,
        Guard::New,
    ),
    (names::FILTER_FORWARD, names::CLUSTER_IPS_CHECK, Guard::New),
    (
        names::FILTER_OUTPUT,
        names::SERVICE_ENDPOINTS_CHECK,
        Guard::New,
    ),
    (names::FILTER_OUTPUT, names::FIREWALL_CHECK, Guard::New),
    (
        names::FILTER_OUTPUT_POST_DNAT,
        names::CLUSTER_IPS_CHECK,
        Guard::New,
    ),
    (
        names::FILTER_OUTPUT_POST_DNAT,
        names::AFFINITY_CHECK,
        Guard::NewDnat,
    ),
    (
        names::FILTER_PREROUTING_POST_DNAT,
        names::AFFINITY_CHECK,
        Guard::NewDnat,
    ),
    (names::NAT_PREROUTING, names::SERVICES, Guard::All),
    (names::NAT_OUTPUT, names::SERVICES, Guard::All),
    (names::NAT_POSTROUTING, names::MASQUERADING, Guard::All),
];

/// The static regular chains, in declaration order.
pub(crate) const STATIC_CHAINS: [&str; 9] = [
    names::SERVICES,
    names::AFFINITY_CHECK,
    names::MASQUERADING,
    names::MARK_FOR_MASQUERADE,
    names::FIREWALL_CHECK,
    names::SERVICE_ENDPOINTS_CHECK,
    names::NODEPORT_ENDPOINTS_CHECK,
    names::CLUSTER_IPS_CHECK,
    names::REJECT_CHAIN,
];

/// Every chain that is not shared: base chains, static regular chains, then the dispatch
/// chains ([`SetName::dispatch_chain`]).
pub(crate) fn chains() -> Vec<Chain> {
    BASE_CHAINS
        .iter()
        .map(|(name, ty, hook, prio)| Chain::base(*name, *ty, *hook, *prio))
        .chain(STATIC_CHAINS.iter().map(|name| Chain::regular(*name)))
        .chain(dispatch_chains().map(Chain::regular))
        .collect()
}

/// The dispatch chains, in declaration order.
pub(crate) fn dispatch_chains() -> impl Iterator<Item = &'static str> {
    SetName::DISPATCHING
        .into_iter()
        .filter_map(SetName::dispatch_chain)
}

/// `ip daddr . meta l4proto . th dport`: a frontend key.
pub(crate) fn frontend_key() -> Vec<Expr> {
    vec![Expr::Ip(Addr::Daddr), Expr::L4Proto, Expr::ThDport]
}

/// `meta l4proto . th dport`: a node-port key.
pub(crate) fn nodeport_key() -> Vec<Expr> {
    vec![Expr::L4Proto, Expr::ThDport]
}

fn goto(chain: impl Into<String>) -> Stmt {
    Stmt::Verdict(Verdict::Goto(chain.into()))
}

fn jump(chain: impl Into<String>) -> Stmt {
    Stmt::Verdict(Verdict::Jump(chain.into()))
}

fn lookup(key: Vec<Expr>, set: SetName, negate: bool) -> Stmt {
    Stmt::Lookup {
        key,
        set: set.as_str().into(),
        negate,
    }
}

/// The dispatch chain of a per-service map of dispatch ids.
fn dispatch_chain(map: SetName) -> &'static str {
    map.dispatch_chain().expect("a map of dispatch ids")
}

/// `KEY map @MAP != 0x00000000 goto MAP-dispatch`: a frontend found in the per-service map
/// goes to its dispatch chain (ids are never 0). One lookup for the traffic that is not ours,
/// whatever the number of targets.
fn to_dispatch(key: Vec<Expr>, map: SetName) -> Vec<Stmt> {
    vec![
        Stmt::MapCmp {
            key,
            map: map.as_str().into(),
            op: CmpOp::Neq,
            value: Value::Id(0),
        },
        goto(dispatch_chain(map)),
    ]
}

/// The key a per-service map of dispatch ids is looked up with in its dispatch chain, and
/// whether its rules need a protocol match (`ct original proto-dst` is typed by the protocol).
fn dispatch_key(map: SetName) -> (Vec<Expr>, bool) {
    match map {
        SetName::ServiceIps | SetName::LocalEndpointIps | SetName::NoEndpointServices => {
            (frontend_key(), false)
        }
        SetName::AffinityFrontends => (original_frontend(), true),
        SetName::AffinityNodeports => (vec![Expr::L4Proto, Expr::CtOriginalProtoDst], true),
        _ => (nodeport_key(), false),
    }
}

/// The rules of the dispatch chain of `map` for `targets` (in the order given):
/// `KEY map @MAP == ID VERDICT` per target, one per protocol for the affinity maps.
pub(crate) fn dispatch_rules(map: SetName, targets: impl IntoIterator<Item = Target>) -> Vec<Rule> {
    let (key, per_proto) = dispatch_key(map);
    let mut rules = Vec::new();
    for target in targets {
        debug_assert!(target.maps().contains(&map), "{map} -> {target:?}");
        let rule = |proto: Option<Protocol>| {
            let mut stmts: Vec<Stmt> = proto.map(is_proto).into_iter().collect();
            stmts.push(Stmt::MapCmp {
                key: key.clone(),
                map: map.as_str().into(),
                op: CmpOp::Eq,
                value: Value::Id(target.id()),
            });
            stmts.push(Stmt::Verdict(target.verdict()));
            Rule::new(stmts)
        };
        if per_proto {
            rules.extend(PROTOCOLS.into_iter().map(|p| rule(Some(p))));
        } else {
            rules.push(rule(None));
        }
    }
    rules
}

fn dnat(key: Vec<Expr>, map: SetName) -> Stmt {
    Stmt::DnatMap {
        key,
        map: map.as_str().into(),
    }
}

/// The protocols services use, for rules that need one per protocol.
const PROTOCOLS: [Protocol; 3] = [Protocol::Tcp, Protocol::Udp, Protocol::Sctp];

/// `meta l4proto PROTO`.
fn is_proto(proto: Protocol) -> Stmt {
    Stmt::Cmp {
        expr: Expr::L4Proto,
        op: CmpOp::Eq,
        value: Value::Proto(proto),
    }
}

/// `ct original ip daddr . meta l4proto . ct original proto-dst`: the frontend before DNAT.
fn original_frontend() -> Vec<Expr> {
    vec![
        Expr::CtOriginalDaddr,
        Expr::L4Proto,
        Expr::CtOriginalProtoDst,
    ]
}

/// `ip saddr . ct original ip daddr . meta l4proto . ct original proto-dst`: an affinity key
/// after DNAT (before DNAT it is `ip saddr . ip daddr . meta l4proto . th dport`).
fn affinity_key_after_dnat() -> Vec<Expr> {
    let mut key = vec![Expr::Ip(Addr::Saddr)];
    key.extend(original_frontend());
    key
}

/// `ip daddr . th dport`: the endpoint after DNAT.
fn endpoint_after_dnat() -> Vec<Expr> {
    vec![Expr::Ip(Addr::Daddr), Expr::ThDport]
}

/// The statements that select traffic to a node port's address, or `None` when this family
/// serves no node ports.
fn nodeport_match(fc: &FamilyView) -> Option<Vec<Stmt>> {
    let not_loopback = Stmt::Cmp {
        expr: Expr::Ip(Addr::Daddr),
        op: CmpOp::Neq,
        value: Value::Prefix(Family::of(fc.family).loopback()),
    };
    match &fc.nodeports {
        NodePorts::None => None,
        NodePorts::AllLocal => Some(vec![Stmt::FibLocal(Addr::Daddr), not_loopback]),
        NodePorts::Primary(_) => Some(vec![lookup(
            vec![Expr::Ip(Addr::Daddr)],
            SetName::NodeportIps,
            false,
        )]),
        NodePorts::Cidrs(_) => Some(vec![
            Stmt::FibLocal(Addr::Daddr),
            not_loopback,
            lookup(vec![Expr::Ip(Addr::Daddr)], SetName::NodeportIps, false),
        ]),
    }
}

/// The rules of the static chains, base-chain jumps first.
pub(crate) fn rules(fc: &FamilyView) -> Vec<(&'static str, Rule)> {
    let mut out: Vec<(&'static str, Rule)> = JUMPS
        .iter()
        .map(|(from, to, guard)| {
            let mut stmts = match guard {
                Guard::All => vec![],
                Guard::New => vec![Stmt::CtStateNew],
                Guard::NewDnat => vec![Stmt::CtStateNew, Stmt::CtStatusDnat],
            };
            stmts.push(jump(*to));
            (*from, Rule::new(stmts))
        })
        .collect();
    let mut add = |chain: &'static str, stmts: Vec<Stmt>| out.push((chain, Rule::new(stmts)));
    let daddr = || vec![Expr::Ip(Addr::Daddr)];
    let has_cluster_cidrs = !fc.cluster_cidrs.is_empty();

    // services: mark off-cluster traffic to cluster IPs, then dispatch.
    if fc.masquerade_all {
        add(
            names::SERVICES,
            vec![
                lookup(daddr(), SetName::ClusterIps, false),
                jump(names::MARK_FOR_MASQUERADE),
            ],
        );
    } else if has_cluster_cidrs {
        add(
            names::SERVICES,
            vec![
                lookup(daddr(), SetName::ClusterIps, false),
                lookup(vec![Expr::Ip(Addr::Saddr)], SetName::ClusterCidrs, true),
                jump(names::MARK_FOR_MASQUERADE),
            ],
        );
    }
    add(
        names::SERVICES,
        to_dispatch(frontend_key(), SetName::ServiceIps),
    );
    let np = nodeport_match(fc);
    if let Some(m) = &np {
        let mut stmts = m.clone();
        stmts.extend(to_dispatch(nodeport_key(), SetName::ServiceNodeports));
        add(names::SERVICES, stmts);
    }

    // affinity-check: new connections DNATed from an affinity frontend or node port. `ct
    // original proto-dst` is typed by the protocol, hence one rule per protocol.
    for proto in PROTOCOLS {
        let mut stmts = vec![is_proto(proto)];
        stmts.extend(to_dispatch(original_frontend(), SetName::AffinityFrontends));
        add(names::AFFINITY_CHECK, stmts);
    }
    if fc.nodeports != NodePorts::None {
        for proto in PROTOCOLS {
            let mut stmts = vec![is_proto(proto)];
            if fc.nodeports != NodePorts::AllLocal {
                stmts.push(lookup(
                    vec![Expr::CtOriginalDaddr],
                    SetName::NodeportIps,
                    false,
                ));
            }
            stmts.extend(to_dispatch(
                vec![Expr::L4Proto, Expr::CtOriginalProtoDst],
                SetName::AffinityNodeports,
            ));
            add(names::AFFINITY_CHECK, stmts);
        }
    }

    // masquerading: hairpin (a pod DNATed to itself), then everything marked.
    add(
        names::MASQUERADING,
        vec![
            Stmt::CtStatusDnat,
            lookup(
                vec![Expr::Ip(Addr::Saddr), Expr::Ip(Addr::Daddr)],
                SetName::HairpinEndpoints,
                false,
            ),
            jump(names::MARK_FOR_MASQUERADE),
        ],
    );
    add(
        names::MASQUERADING,
        vec![
            Stmt::MarkClear(names::MASQUERADE_MARK),
            Stmt::Verdict(Verdict::Return),
        ],
    );
    add(
        names::MASQUERADING,
        vec![Stmt::MarkXor(names::MASQUERADE_MARK)],
    );
    add(
        names::MASQUERADING,
        vec![Stmt::Masquerade { fully_random: true }],
    );
    add(
        names::MARK_FOR_MASQUERADE,
        vec![Stmt::MarkOr(names::MASQUERADE_MARK)],
    );

    // Filter checks.
    let mut fw_key = frontend_key();
    fw_key.push(Expr::Ip(Addr::Saddr));
    add(
        names::FIREWALL_CHECK,
        vec![
            lookup(frontend_key(), SetName::FirewallIps, false),
            lookup(fw_key, SetName::FirewallAllow, true),
            Stmt::Verdict(Verdict::Drop),
        ],
    );
    add(
        names::SERVICE_ENDPOINTS_CHECK,
        to_dispatch(frontend_key(), SetName::NoEndpointServices),
    );
    if let Some(mut stmts) = np {
        stmts.extend(to_dispatch(nodeport_key(), SetName::NoEndpointNodeports));
        add(names::NODEPORT_ENDPOINTS_CHECK, stmts);
    }
    add(
        names::CLUSTER_IPS_CHECK,
        vec![lookup(daddr(), SetName::ClusterIps, false), Stmt::Reject],
    );
    if !fc.service_cidrs.is_empty() {
        add(
            names::CLUSTER_IPS_CHECK,
            vec![
                lookup(daddr(), SetName::ServiceCidrs, false),
                Stmt::Verdict(Verdict::Drop),
            ],
        );
    }
    add(names::REJECT_CHAIN, vec![Stmt::Reject]);
    out
}

/// The shared sets and maps of a family, with the configuration-derived elements.
pub(crate) fn sets(fc: &FamilyView) -> Vec<(SetDef, Vec<Element>)> {
    let a = Family::of(fc.family).addr_field();
    let frontend = || vec![a, Field::InetProto, Field::InetService];
    let nodeport = || vec![Field::InetProto, Field::InetService];
    let slot = |mut key: Vec<Field>| {
        key.push(Field::Slot);
        key
    };
    let endpoint = || vec![a, Field::InetService];
    let id = || vec![Field::Id];
    let prefixes = |nets: &[IpNet]| -> Vec<Element> {
        nets.iter()
            .map(|n| Element {
                key: vec![Value::Prefix(*n)],
                data: None,
                comment: None,
            })
            .collect()
    };
    let mut out = Vec::new();
    for name in SetName::ALL {
        let n = name.as_str();
        let (def, elems) = match name {
            SetName::ClusterCidrs if !fc.cluster_cidrs.is_empty() => (
                SetDef::set(n, vec![a]).interval(),
                prefixes(&fc.cluster_cidrs),
            ),
            SetName::ServiceCidrs if !fc.service_cidrs.is_empty() => (
                SetDef::set(n, vec![a]).interval(),
                prefixes(&fc.service_cidrs),
            ),
            SetName::NodeportIps => match &fc.nodeports {
                NodePorts::Primary(ip) => (
                    SetDef::set(n, vec![a]).interval(),
                    prefixes(&[IpNet::from(*ip)]),
                ),
                NodePorts::Cidrs(nets) => (SetDef::set(n, vec![a]).interval(), prefixes(nets)),
                _ => continue,
            },
            SetName::ClusterCidrs | SetName::ServiceCidrs => continue,
            SetName::ClusterIps => (SetDef::set(n, vec![a]), Vec::new()),
            SetName::ServiceIps
            | SetName::LocalEndpointIps
            | SetName::NoEndpointServices
            | SetName::AffinityFrontends => (SetDef::map(n, frontend(), id()), Vec::new()),
            SetName::ServiceNodeports
            | SetName::LocalNodeports
            | SetName::NoEndpointNodeports
            | SetName::AffinityNodeports => (SetDef::map(n, nodeport(), id()), Vec::new()),
            SetName::ServiceEndpoints | SetName::LocalEndpoints => {
                (SetDef::map(n, slot(frontend()), endpoint()), Vec::new())
            }
            SetName::NodeportEndpoints | SetName::NodeportLocalEndpoints => {
                (SetDef::map(n, slot(nodeport()), endpoint()), Vec::new())
            }
            SetName::FirewallIps => (SetDef::set(n, frontend()), Vec::new()),
            SetName::FirewallAllow => {
                let mut key = frontend();
                key.push(a);
                (SetDef::set(n, key).interval(), Vec::new())
            }
            SetName::HairpinEndpoints => (SetDef::set(n, vec![a, a]), Vec::new()),
            SetName::Affinity => {
                let mut def = SetDef::map(
                    n,
                    vec![a, a, Field::InetProto, Field::InetService],
                    endpoint(),
                );
                def.flags.dynamic = true;
                def.flags.timeout = true;
                def.size = Some(names::AFFINITY_SIZE);
                (def, Vec::new())
            }
            SetName::AffinityBackends => {
                let mut key = frontend();
                key.extend(endpoint());
                (SetDef::set(n, key), Vec::new())
            }
            SetName::AffinityNodeportBackends => {
                let mut key = nodeport();
                key.extend(endpoint());
                (SetDef::set(n, key), Vec::new())
            }
        };
        out.push((def, elems));
    }
    out
}

/// The rules of a shared chain.
pub(crate) fn shared_rules(fc: &FamilyView, chain: SharedChain) -> Vec<Rule> {
    let numgen = |n: u32| Expr::Numgen {
        modulus: n,
        offset: 0,
    };
    let with_slot = |mut key: Vec<Expr>, n: u32| {
        key.push(numgen(n));
        key
    };
    let short_circuit = |to: SharedChain, local: Stmt| {
        let mut rules = Vec::new();
        if !fc.cluster_cidrs.is_empty() {
            rules.push(Rule::new(vec![
                lookup(vec![Expr::Ip(Addr::Saddr)], SetName::ClusterCidrs, false),
                goto(to.name()),
            ]));
        }
        rules.push(Rule::new(vec![
            Stmt::FibLocal(Addr::Saddr),
            jump(names::MARK_FOR_MASQUERADE),
        ]));
        rules.push(Rule::new(vec![
            Stmt::FibLocal(Addr::Saddr),
            goto(to.name()),
        ]));
        rules.push(Rule::new(vec![local]));
        rules
    };
    let masq_then = |to: SharedChain| {
        vec![
            Rule::new(vec![jump(names::MARK_FOR_MASQUERADE)]),
            Rule::new(vec![goto(to.name())]),
        ]
    };
    // A client remembered by ClientIP affinity goes back to its endpoint; others pick one at
    // random. The affinity lookup misses for services without affinity (nothing is recorded).
    let pick = |key: Vec<Expr>, n: u32, map: SetName| {
        vec![
            Rule::new(vec![dnat(
                vec![
                    Expr::Ip(Addr::Saddr),
                    Expr::Ip(Addr::Daddr),
                    Expr::L4Proto,
                    Expr::ThDport,
                ],
                SetName::Affinity,
            )]),
            Rule::new(vec![dnat(with_slot(key, n), map)]),
        ]
    };
    // After DNAT: forget a remembered endpoint that is gone (and drop this packet; the
    // client's retry picks afresh), else remember or refresh the endpoint.
    let record = |timeout: u32, frontend: Vec<Expr>, backends: SetName| {
        let mut rules = Vec::new();
        for proto in PROTOCOLS {
            let mut pair = frontend.clone();
            pair.extend(endpoint_after_dnat());
            rules.push(Rule::new(vec![
                is_proto(proto),
                lookup(pair, backends, true),
                Stmt::Dynset {
                    op: DynsetOp::Delete,
                    set: SetName::Affinity.as_str().into(),
                    key: affinity_key_after_dnat(),
                    data: endpoint_after_dnat(),
                    timeout: None,
                },
                Stmt::Verdict(Verdict::Drop),
            ]));
            rules.push(Rule::new(vec![
                is_proto(proto),
                Stmt::Dynset {
                    op: DynsetOp::Update,
                    set: SetName::Affinity.as_str().into(),
                    key: affinity_key_after_dnat(),
                    data: endpoint_after_dnat(),
                    timeout: Some(timeout),
                },
            ]));
        }
        rules
    };
    match chain {
        SharedChain::Endpoints(n) => pick(frontend_key(), n, SetName::ServiceEndpoints),
        SharedChain::LocalEndpoints(n) => pick(frontend_key(), n, SetName::LocalEndpoints),
        SharedChain::NodeportEndpoints(n) => pick(nodeport_key(), n, SetName::NodeportEndpoints),
        SharedChain::NodeportLocalEndpoints(n) => {
            pick(nodeport_key(), n, SetName::NodeportLocalEndpoints)
        }
        SharedChain::AffinityRecord(t) => record(t, original_frontend(), SetName::AffinityBackends),
        SharedChain::NodeportAffinityRecord(t) => record(
            t,
            vec![Expr::L4Proto, Expr::CtOriginalProtoDst],
            SetName::AffinityNodeportBackends,
        ),
        SharedChain::External(n) => masq_then(SharedChain::Endpoints(n)),
        SharedChain::NodeportExternal(n) => masq_then(SharedChain::NodeportEndpoints(n)),
        SharedChain::EtpLocal(n) => short_circuit(
            SharedChain::Endpoints(n),
            goto(dispatch_chain(SetName::LocalEndpointIps)),
        ),
        SharedChain::NodeportEtpLocal(n) => short_circuit(
            SharedChain::NodeportEndpoints(n),
            goto(dispatch_chain(SetName::LocalNodeports)),
        ),
    }
}
