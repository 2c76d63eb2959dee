//! The flat ruleset under test, built with the crate's API: a service verdict map whose
//! elements `goto` one of a few shared chains per endpoint count, each doing
//! `dnat to ip daddr . meta l4proto . th dport . numgen random mod N map @endpoints` over one
//! shared data map; NodePorts the same way behind `fib daddr type local`; a reject chain for
//! services without endpoints; and session affinity over one shared dynamic set.

use std::ffi::{CStr, CString};
use std::net::Ipv4Addr;
use std::time::Duration;

use backend_nft::expr::{
    Dynset, DynsetOp, FibDaddrType, ImmediateData, Lookup, MetaKey, MetaLoad, Nat, NatKind,
    NumgenRandom, PayloadLoad, Reject,
};
use backend_nft::set::{ElemOp, ElemVerdict, SetData, SetDef, SetElems};
use backend_nft::types::{ConcatType, DataType, Reg, Value};
use nftnl::expr::Verdict;
use nftnl::{Batch, Chain, ChainType, Hook, MsgType, Policy, ProtoFamily, Rule, Table};

pub(crate) const TABLE: &CStr = c"svcproxy";
pub(crate) const TCP: u8 = 6;
pub(crate) const UDP: u8 = 17;
/// `NF_IP_PRI_NAT_DST`: `priority dstnat`.
pub(crate) const DSTNAT: i32 = -100;

/// Key of the service verdict map: `ipv4_addr . inet_proto . inet_service`.
pub(crate) fn service_key() -> ConcatType {
    ConcatType::new(&[
        DataType::Ipv4Addr,
        DataType::InetProto,
        DataType::InetService,
    ])
}

/// Key of the endpoint map: the service key plus the `numgen` slot.
pub(crate) fn endpoint_key() -> ConcatType {
    ConcatType::new(&[
        DataType::Ipv4Addr,
        DataType::InetProto,
        DataType::InetService,
        DataType::Mark,
    ])
}

/// Data of the endpoint maps: `ipv4_addr . inet_service`.
pub(crate) fn endpoint_data() -> ConcatType {
    ConcatType::new(&[DataType::Ipv4Addr, DataType::InetService])
}

/// Key of the NodePort maps: `inet_proto . inet_service` (plus the slot for endpoints).
pub(crate) fn nodeport_key(slot: bool) -> ConcatType {
    let mut fields = vec![DataType::InetProto, DataType::InetService];
    if slot {
        fields.push(DataType::Mark);
    }
    ConcatType::new(&fields)
}

pub(crate) fn cs(s: &str) -> CString {
    CString::new(s).expect("no NUL")
}

/// The sets and maps of the flat shape.
pub(crate) struct Sets {
    pub(crate) service_ips: SetDef,
    pub(crate) endpoints: SetDef,
    pub(crate) no_endpoints: SetDef,
    pub(crate) nodeports: SetDef,
    pub(crate) nodeport_endpoints: SetDef,
}

impl Sets {
    pub(crate) fn new() -> Self {
        let ip = ProtoFamily::Ipv4;
        Sets {
            service_ips: SetDef::new(
                TABLE,
                ip,
                c"service-ips",
                1,
                service_key(),
                SetData::Verdict,
            ),
            endpoints: SetDef::new(
                TABLE,
                ip,
                c"endpoints",
                2,
                endpoint_key(),
                SetData::Data(endpoint_data()),
            ),
            no_endpoints: SetDef::new(
                TABLE,
                ip,
                c"no-endpoint-services",
                3,
                service_key(),
                SetData::Verdict,
            ),
            nodeports: SetDef::new(
                TABLE,
                ip,
                c"service-nodeports",
                4,
                nodeport_key(false),
                SetData::Verdict,
            ),
            nodeport_endpoints: SetDef::new(
                TABLE,
                ip,
                c"nodeport-endpoints",
                5,
                nodeport_key(true),
                SetData::Data(endpoint_data()),
            ),
        }
    }
}

/// Endpoint counts that get a shared chain in these tests.
pub(crate) const SHARED_COUNTS: [u32; 3] = [1, 2, 3];

pub(crate) fn endpoints_chain(n: u32) -> CString {
    cs(&format!("endpoints-{n}"))
}

pub(crate) fn nodeport_chain(n: u32) -> CString {
    cs(&format!("nodeport-endpoints-{n}"))
}

/// `KEY vmap @set`, with KEY loaded by `loads` from word 0 on.
pub(crate) fn vmap_rule<'a>(chain: &'a Chain<'a>, loads: &[&dyn LoadInto], set: &CStr) -> Rule<'a> {
    let mut rule = Rule::new(chain);
    for (load, reg) in loads.iter().zip(words(loads.len())) {
        load.add(&mut rule, reg);
    }
    rule.add_expr(&Lookup::vmap(set, Reg::R1));
    rule
}

/// Field loaders for concatenated keys (each given its register).
pub(crate) trait LoadInto {
    fn add(&self, rule: &mut Rule<'_>, reg: Reg);
}

pub(crate) struct IpDaddr;
pub(crate) struct L4Proto;
pub(crate) struct ThDport;
pub(crate) struct Slot(pub(crate) u32);

impl LoadInto for IpDaddr {
    fn add(&self, rule: &mut Rule<'_>, reg: Reg) {
        rule.add_expr(&PayloadLoad::ip_daddr(reg));
    }
}
impl LoadInto for L4Proto {
    fn add(&self, rule: &mut Rule<'_>, reg: Reg) {
        rule.add_expr(&MetaLoad {
            key: MetaKey::L4Proto,
            dreg: reg,
        });
    }
}
impl LoadInto for ThDport {
    fn add(&self, rule: &mut Rule<'_>, reg: Reg) {
        rule.add_expr(&PayloadLoad::th_dport(reg));
    }
}
impl LoadInto for Slot {
    fn add(&self, rule: &mut Rule<'_>, reg: Reg) {
        rule.add_expr(&NumgenRandom {
            modulus: self.0,
            offset: 0,
            dreg: reg,
        });
    }
}

/// Registers for `n` one-word fields (all our fields fit a word).
pub(crate) fn words(n: usize) -> Vec<Reg> {
    (0..n as u32).map(Reg::word).collect()
}

/// `dnat to KEY map @set` with KEY = `loads`: lookup into words 0..1, then NAT from them.
pub(crate) fn dnat_map_rule<'a>(
    chain: &'a Chain<'a>,
    loads: &[&dyn LoadInto],
    set: &CStr,
) -> Rule<'a> {
    let mut rule = Rule::new(chain);
    for (load, reg) in loads.iter().zip(words(loads.len())) {
        load.add(&mut rule, reg);
    }
    let regs = endpoint_data().registers(Reg::R1);
    rule.add_expr(&Lookup::map(set, Reg::R1, regs[0]));
    rule.add_expr(&Nat {
        kind: NatKind::Dnat,
        family: ProtoFamily::Ipv4,
        addr: regs[0],
        port: Some(regs[1]),
    });
    rule
}

/// Adds the whole flat-shape table (no elements) to `batch`.
pub(crate) fn add_table(batch: &mut Batch, sets: &Sets) {
    let table = Table::new(TABLE, ProtoFamily::Ipv4);
    batch.add(&table, MsgType::Add);
    for set in [
        &sets.service_ips,
        &sets.endpoints,
        &sets.no_endpoints,
        &sets.nodeports,
        &sets.nodeport_endpoints,
    ] {
        batch.add(set, MsgType::Add);
    }

    // Regular chains first, so base chains never see a dangling jump.
    let reject = Chain::new(c"reject-chain", &table);
    batch.add(&reject, MsgType::Add);
    let mut rule = Rule::new(&reject);
    rule.add_expr(&Reject::PORT_UNREACHABLE_V4);
    batch.add(&rule, MsgType::Add);

    for n in SHARED_COUNTS {
        let name = endpoints_chain(n);
        let chain = Chain::new(&name, &table);
        batch.add(&chain, MsgType::Add);
        let rule = dnat_map_rule(
            &chain,
            &[&IpDaddr, &L4Proto, &ThDport, &Slot(n)],
            sets.endpoints.name(),
        );
        batch.add(&rule, MsgType::Add);

        let name = nodeport_chain(n);
        let chain = Chain::new(&name, &table);
        batch.add(&chain, MsgType::Add);
        let rule = dnat_map_rule(
            &chain,
            &[&L4Proto, &ThDport, &Slot(n)],
            sets.nodeport_endpoints.name(),
        );
        batch.add(&rule, MsgType::Add);
    }

    let services = Chain::new(c"services", &table);
    batch.add(&services, MsgType::Add);
    let rule = vmap_rule(
        &services,
        &[&IpDaddr, &L4Proto, &ThDport],
        sets.service_ips.name(),
    );
    batch.add(&rule, MsgType::Add);
    // fib daddr type local meta l4proto . th dport vmap @service-nodeports
    let mut rule = Rule::new(&services);
    let (fib, is_local) = FibDaddrType::local(Reg::R1);
    rule.add_expr(&fib);
    rule.add_expr(&is_local);
    L4Proto.add(&mut rule, Reg::word(0));
    ThDport.add(&mut rule, Reg::word(1));
    rule.add_expr(&Lookup::vmap(sets.nodeports.name(), Reg::R1));
    batch.add(&rule, MsgType::Add);

    for (name, hook) in [
        (c"nat-prerouting", Hook::PreRouting),
        (c"nat-output", Hook::Out),
    ] {
        let mut chain = Chain::new(name, &table);
        chain.set_type(ChainType::Nat);
        chain.set_hook(hook, DSTNAT);
        chain.set_policy(Policy::Accept);
        batch.add(&chain, MsgType::Add);
        let mut rule = Rule::new(&chain);
        rule.add_expr(&Verdict::Jump {
            chain: cs("services"),
        });
        batch.add(&rule, MsgType::Add);
    }

    let mut forward = Chain::new(c"filter-forward", &table);
    forward.set_type(ChainType::Filter);
    forward.set_hook(Hook::Forward, 0);
    forward.set_policy(Policy::Accept);
    batch.add(&forward, MsgType::Add);
    let rule = vmap_rule(
        &forward,
        &[&IpDaddr, &L4Proto, &ThDport],
        sets.no_endpoints.name(),
    );
    batch.add(&rule, MsgType::Add);
}

pub(crate) fn svc(ip: Ipv4Addr, proto: u8, port: u16) -> [Value; 3] {
    [Value::Ipv4(ip), Value::Proto(proto), Value::Port(port)]
}

pub(crate) fn ep_key(ip: Ipv4Addr, proto: u8, port: u16, slot: u32) -> [Value; 4] {
    [
        Value::Ipv4(ip),
        Value::Proto(proto),
        Value::Port(port),
        Value::Mark(slot),
    ]
}

pub(crate) fn ep(ip: Ipv4Addr, port: u16) -> [Value; 2] {
    [Value::Ipv4(ip), Value::Port(port)]
}

pub(crate) const WEB: Ipv4Addr = Ipv4Addr::new(10, 96, 0, 10);
pub(crate) const DNS: Ipv4Addr = Ipv4Addr::new(10, 96, 0, 11);
pub(crate) const EMPTY: Ipv4Addr = Ipv4Addr::new(10, 96, 0, 12);

/// The elements of the sample services: web (tcp/80, 2 endpoints, also NodePort 30080),
/// dns (udp/53 and tcp/53, 1 endpoint each), empty (tcp/80, no endpoints: rejected).
pub(crate) fn add_elements(batch: &mut Batch, sets: &Sets) {
    let pod = |i| Ipv4Addr::new(10, 244, 0, i);

    let mut e = SetElems::for_set(&sets.service_ips);
    e.push_verdict(&svc(WEB, TCP, 80), ElemVerdict::Goto(endpoints_chain(2)))
        .expect("typed");
    e.push_verdict(&svc(DNS, UDP, 53), ElemVerdict::Goto(endpoints_chain(1)))
        .expect("typed");
    e.push_verdict(&svc(DNS, TCP, 53), ElemVerdict::Goto(endpoints_chain(1)))
        .expect("typed");
    e.add_to_batch(batch, ElemOp::Add);

    let mut e = SetElems::for_set(&sets.endpoints);
    e.push_data(&ep_key(WEB, TCP, 80, 0), &ep(pod(2), 8080))
        .expect("typed");
    e.push_data(&ep_key(WEB, TCP, 80, 1), &ep(pod(3), 8080))
        .expect("typed");
    e.push_data(&ep_key(DNS, UDP, 53, 0), &ep(pod(4), 5353))
        .expect("typed");
    e.push_data(&ep_key(DNS, TCP, 53, 0), &ep(pod(4), 5354))
        .expect("typed");
    e.add_to_batch(batch, ElemOp::Add);

    let mut e = SetElems::for_set(&sets.no_endpoints);
    e.push_verdict(&svc(EMPTY, TCP, 80), ElemVerdict::Goto(cs("reject-chain")))
        .expect("typed");
    e.add_to_batch(batch, ElemOp::Add);

    let mut e = SetElems::for_set(&sets.nodeports);
    e.push_verdict(
        &[Value::Proto(TCP), Value::Port(30080)],
        ElemVerdict::Goto(nodeport_chain(2)),
    )
    .expect("typed");
    e.add_to_batch(batch, ElemOp::Add);

    let mut e = SetElems::for_set(&sets.nodeport_endpoints);
    for (slot, i) in [(0, 2), (1, 3)] {
        e.push_data(
            &[Value::Proto(TCP), Value::Port(30080), Value::Mark(slot)],
            &ep(pod(i), 8080),
        )
        .expect("typed");
    }
    e.add_to_batch(batch, ElemOp::Add);
}

/// Session affinity in the flat shape, in a form `nft` can still print: one shared set
/// remembers `client . service . slot` with a timeout (written from the packet path by
/// `dynset`), and the chain for N endpoints first tries each slot the client may already have,
/// then picks a random slot and remembers it.
///
/// (The more direct `client . service -> endpoint` map, filled by a `dynset` whose data is a
/// map lookup, is accepted by the kernel but makes `nft list` 1.0.6 abort with
/// `netlink_parse_concat_expr: Assertion 'consumed > 0' failed`.)
pub(crate) fn add_affinity_chain(batch: &mut Batch, sets: &Sets, affinity: &SetDef, n: u32) {
    let table = Table::new(TABLE, ProtoFamily::Ipv4);
    let name = cs(&format!("affinity-endpoints-{n}"));
    let chain = Chain::new(&name, &table);
    batch.add(&chain, MsgType::Add);
    // Words 0..5: saddr, daddr, l4proto, dport, slot. The affinity key is words 0..5, the
    // endpoint key words 1..5; the endpoint lands in words 0..2.
    let key = words(5);
    let data = endpoint_data().registers(Reg::R1);
    let remember = Dynset {
        op: DynsetOp::Update,
        set: affinity.name().to_owned(),
        sreg_key: key[0],
        sreg_data: None,
        timeout: Some(AFFINITY),
    };
    let dnat = |rule: &mut Rule<'_>| {
        rule.add_expr(&Lookup::map(sets.endpoints.name(), key[1], data[0]));
        rule.add_expr(&Nat {
            kind: NatKind::Dnat,
            family: ProtoFamily::Ipv4,
            addr: data[0],
            port: Some(data[1]),
        });
    };
    let client_service = |rule: &mut Rule<'_>| {
        rule.add_expr(&PayloadLoad::ip_saddr(key[0]));
        IpDaddr.add(rule, key[1]);
        L4Proto.add(rule, key[2]);
        ThDport.add(rule, key[3]);
    };
    for slot in 0..n {
        let mut rule = Rule::new(&chain);
        client_service(&mut rule);
        rule.add_expr(&ImmediateData {
            data: slot.to_ne_bytes().to_vec(),
            dreg: key[4],
        });
        rule.add_expr(&Lookup::member(affinity.name(), key[0]));
        rule.add_expr(&remember);
        dnat(&mut rule);
        batch.add(&rule, MsgType::Add);
    }
    let mut rule = Rule::new(&chain);
    client_service(&mut rule);
    Slot(n).add(&mut rule, key[4]);
    rule.add_expr(&remember);
    dnat(&mut rule);
    batch.add(&rule, MsgType::Add);
}

pub(crate) const AFFINITY: Duration = Duration::from_secs(10_800);

/// `client . service IP . l4proto . port . slot`, dynamic, 3h timeout.
pub(crate) fn affinity_set() -> SetDef {
    SetDef::new(
        TABLE,
        ProtoFamily::Ipv4,
        c"affinity",
        10,
        ConcatType::new(&[
            DataType::Ipv4Addr,
            DataType::Ipv4Addr,
            DataType::InetProto,
            DataType::InetService,
            DataType::Mark,
        ]),
        SetData::None,
    )
    .dynamic()
    .timeout(AFFINITY)
    .size(65_535)
}
