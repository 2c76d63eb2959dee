//! The netlink layer against the kernel: what is sent is what `nft -j list` shows, refused
//! batches change nothing, element updates, large batches, table deletion, affinity.

use std::net::Ipv4Addr;
use std::time::Duration;

use backend_nft::netlink::{Error, MsgKind};
use backend_nft::set::{ElemData, ElemOp, ElemVerdict, FlushSet, SetElems};
use backend_nft::types::Value;
use nftnl::expr::Verdict;
use nftnl::{Batch, Chain, MsgType, ProtoFamily, Rule, Table};
use nix::errno::Errno;
use serde_json::{Value as Json, json};

use super::nft::{concat_json, dnat_json, elements, list_json, list_text, named, rules, setup};
use super::shape::*;

#[test]
fn flat_service_shape() {
    let Some((ns, mut sock)) = setup("flat_service_shape") else {
        return;
    };
    let sets = Sets::new();
    let mut batch = Batch::new();
    add_table(&mut batch, &sets);
    add_elements(&mut batch, &sets);
    sock.apply(&batch.finalize()).expect("flat table applied");

    let text = list_text(&ns);
    println!("{text}");
    let json = list_json(&ns).expect("table exists");

    // Maps: types exactly as declared.
    let map = |name| named(&json, "map", name);
    assert_eq!(
        map("service-ips")["type"],
        json!(["ipv4_addr", "inet_proto", "inet_service"])
    );
    assert_eq!(map("service-ips")["map"], "verdict");
    assert_eq!(
        map("endpoints")["type"],
        json!(["ipv4_addr", "inet_proto", "inet_service", "mark"])
    );
    assert_eq!(map("endpoints")["map"], "ipv4_addr . inet_service");
    assert_eq!(
        map("service-nodeports")["type"],
        json!(["inet_proto", "inet_service"])
    );
    assert_eq!(
        map("nodeport-endpoints")["type"],
        json!(["inet_proto", "inet_service", "mark"])
    );

    // Elements: exactly what was sent.
    let goto = |c: &str| json!({"goto": {"target": c}});
    let key = |v: Json| json!({"concat": v});
    let mut want = vec![
        (key(json!(["10.96.0.10", "tcp", 80])), goto("endpoints-2")),
        (key(json!(["10.96.0.11", "udp", 53])), goto("endpoints-1")),
        (key(json!(["10.96.0.11", "tcp", 53])), goto("endpoints-1")),
    ];
    want.sort_by_key(|(k, v)| format!("{k}{v}"));
    assert_eq!(elements(&json, "service-ips"), want);
    let mut want = vec![
        (
            key(json!(["10.96.0.10", "tcp", 80, 0])),
            key(json!(["10.244.0.2", 8080])),
        ),
        (
            key(json!(["10.96.0.10", "tcp", 80, 1])),
            key(json!(["10.244.0.3", 8080])),
        ),
        (
            key(json!(["10.96.0.11", "udp", 53, 0])),
            key(json!(["10.244.0.4", 5353])),
        ),
        (
            key(json!(["10.96.0.11", "tcp", 53, 0])),
            key(json!(["10.244.0.4", 5354])),
        ),
    ];
    want.sort_by_key(|(k, v)| format!("{k}{v}"));
    assert_eq!(elements(&json, "endpoints"), want);
    assert_eq!(
        elements(&json, "no-endpoint-services"),
        vec![(key(json!(["10.96.0.12", "tcp", 80])), goto("reject-chain"))]
    );
    assert_eq!(
        elements(&json, "service-nodeports"),
        vec![(key(json!(["tcp", 30080])), goto("nodeport-endpoints-2"))]
    );
    assert_eq!(elements(&json, "nodeport-endpoints").len(), 2);

    // Base chains.
    for (name, hook, ty, prio) in [
        ("nat-prerouting", "prerouting", "nat", -100),
        ("nat-output", "output", "nat", -100),
        ("filter-forward", "forward", "filter", 0),
    ] {
        let chain = named(&json, "chain", name);
        assert_eq!(
            (
                &chain["hook"],
                &chain["type"],
                &chain["prio"],
                &chain["policy"]
            ),
            (&json!(hook), &json!(ty), &json!(prio), &json!("accept")),
            "{name}"
        );
        let want = if ty == "nat" {
            vec![json!([{"jump": {"target": "services"}}])]
        } else {
            vec![
                json!([{"vmap": {"data": "@no-endpoint-services", "key": concat_json(&["daddr", "l4proto", "dport"])}}]),
            ]
        };
        assert_eq!(
            rules(&json, name),
            want.iter().collect::<Vec<_>>(),
            "{name}"
        );
    }

    // The service dispatch: one vmap over all ClusterIPs, one over NodePorts for local daddrs.
    assert_eq!(
        rules(&json, "services"),
        vec![
            &json!([{"vmap": {"data": "@service-ips", "key": concat_json(&["daddr", "l4proto", "dport"])}}]),
            &json!([
                {"match": {"left": {"fib": {"flags": ["daddr"], "result": "type"}}, "op": "==", "right": "local"}},
                {"vmap": {"data": "@service-nodeports", "key": concat_json(&["l4proto", "dport"])}}
            ]),
        ]
    );
    // The shared per-endpoint-count chains.
    for n in SHARED_COUNTS {
        let m = n.to_string();
        assert_eq!(
            rules(&json, &format!("endpoints-{n}")),
            vec![&dnat_json(&["daddr", "l4proto", "dport", &m], "endpoints")]
        );
        assert_eq!(
            rules(&json, &format!("nodeport-endpoints-{n}")),
            vec![&dnat_json(&["l4proto", "dport", &m], "nodeport-endpoints")]
        );
    }
    assert_eq!(
        rules(&json, "reject-chain"),
        vec![&json!([{"reject": {"expr": "port-unreachable", "type": "icmp"}}])]
    );
}

#[test]
fn rejected_batch_changes_nothing() {
    let Some((ns, mut sock)) = setup("rejected_batch_changes_nothing") else {
        return;
    };
    let sets = Sets::new();
    let mut batch = Batch::new();
    add_table(&mut batch, &sets);
    add_elements(&mut batch, &sets);
    sock.apply(&batch.finalize()).expect("flat table applied");
    let before = list_json(&ns).expect("table exists");

    // A valid element and a rule jumping to a chain that does not exist.
    let table = Table::new(TABLE, ProtoFamily::Ipv4);
    let services = Chain::new(c"services", &table);
    let mut batch = Batch::new();
    let mut e = SetElems::for_set(&sets.service_ips);
    e.push_verdict(
        &svc(Ipv4Addr::new(10, 96, 1, 1), TCP, 443),
        ElemVerdict::Goto(endpoints_chain(1)),
    )
    .expect("typed");
    e.add_to_batch(&mut batch, ElemOp::Add);
    let mut rule = Rule::new(&services);
    rule.add_expr(&Verdict::Goto {
        chain: cs("missing-chain"),
    });
    batch.add(&rule, MsgType::Add);
    let batch = batch.finalize();
    let seqs = batch.sequence_numbers();
    match sock.apply(&batch) {
        Err(Error::Rejected { first, all }) => {
            println!("rejected as expected: {first}");
            assert_eq!(first.kind, MsgKind::NewRule, "{first}");
            assert_eq!(first.errno, Errno::ENOENT, "{first}");
            assert!(seqs.contains(&first.seq), "{first} not in {seqs:?}");
            assert_eq!(all.len(), 1, "{all:?}");
        }
        other => panic!("expected a rejection, got {other:?}"),
    }
    assert_eq!(
        list_json(&ns).as_ref(),
        Some(&before),
        "a refused batch must change nothing"
    );

    // An element whose verdict names a missing chain is refused just the same.
    let mut batch = Batch::new();
    let mut e = SetElems::for_set(&sets.service_ips);
    e.push_verdict(
        &svc(Ipv4Addr::new(10, 96, 1, 2), TCP, 443),
        ElemVerdict::Goto(cs("missing-chain")),
    )
    .expect("typed");
    e.add_to_batch(&mut batch, ElemOp::Add);
    match sock.apply(&batch.finalize()) {
        Err(Error::Rejected { first, .. }) => {
            assert_eq!(
                (first.kind, first.errno),
                (MsgKind::NewSetElem, Errno::ENOENT),
                "{first}"
            );
        }
        other => panic!("expected a rejection, got {other:?}"),
    }
    assert_eq!(
        list_json(&ns).as_ref(),
        Some(&before),
        "a refused batch must change nothing"
    );

    // The socket stays usable after refusals.
    let mut batch = Batch::new();
    let mut e = SetElems::for_set(&sets.service_ips);
    e.push_verdict(
        &svc(Ipv4Addr::new(10, 96, 1, 3), TCP, 443),
        ElemVerdict::Goto(endpoints_chain(1)),
    )
    .expect("typed");
    e.add_to_batch(&mut batch, ElemOp::Add);
    sock.apply(&batch.finalize())
        .expect("valid batch after refusals");
    let after = list_json(&ns).expect("table exists");
    assert_eq!(elements(&after, "service-ips").len(), 4);
}

#[test]
fn element_updates() {
    let Some((ns, mut sock)) = setup("element_updates") else {
        return;
    };
    let sets = Sets::new();
    let mut batch = Batch::new();
    add_table(&mut batch, &sets);
    add_elements(&mut batch, &sets);
    sock.apply(&batch.finalize()).expect("flat table applied");
    let pod = |i| Ipv4Addr::new(10, 244, 0, i);

    // Re-adding an identical element is accepted (ElemOp::Add is idempotent) ...
    let mut same = SetElems::for_set(&sets.endpoints);
    same.push_data(&ep_key(WEB, TCP, 80, 0), &ep(pod(2), 8080))
        .expect("typed");
    let mut batch = Batch::new();
    same.add_to_batch(&mut batch, ElemOp::Add);
    sock.apply(&batch.finalize()).expect("identical re-add");
    // ... ElemOp::Create is not ...
    let mut batch = Batch::new();
    same.add_to_batch(&mut batch, ElemOp::Create);
    let err = sock.apply(&batch.finalize()).expect_err("exclusive re-add");
    assert!(
        matches!(&err, Error::Rejected { first, .. } if first.errno == Errno::EEXIST),
        "{err}"
    );
    // ... and different data for an existing key is refused: a replacement is delete + add.
    let mut moved = SetElems::for_set(&sets.endpoints);
    moved
        .push_data(&ep_key(WEB, TCP, 80, 0), &ep(pod(9), 8080))
        .expect("typed");
    let mut batch = Batch::new();
    moved.add_to_batch(&mut batch, ElemOp::Add);
    let err = sock.apply(&batch.finalize()).expect_err("conflicting add");
    assert!(
        matches!(&err, Error::Rejected { first, .. } if first.errno == Errno::EEXIST),
        "{err}"
    );

    // Scale web from 2 to 3 endpoints in one batch: swap its goto, replace slot 0, add slot 2.
    let mut batch = Batch::new();
    let mut old = SetElems::for_set(&sets.service_ips);
    old.push_verdict(&svc(WEB, TCP, 80), ElemVerdict::Goto(endpoints_chain(2)))
        .expect("typed");
    old.add_to_batch(&mut batch, ElemOp::Delete);
    let mut new = SetElems::for_set(&sets.service_ips);
    new.push_verdict(&svc(WEB, TCP, 80), ElemVerdict::Goto(endpoints_chain(3)))
        .expect("typed");
    new.add_to_batch(&mut batch, ElemOp::Add);
    same.add_to_batch(&mut batch, ElemOp::Delete);
    let mut added = moved.clone();
    added
        .push_data(&ep_key(WEB, TCP, 80, 2), &ep(pod(5), 8080))
        .expect("typed");
    added.add_to_batch(&mut batch, ElemOp::Add);
    sock.apply(&batch.finalize()).expect("scale-up applied");

    let json = list_json(&ns).expect("table exists");
    let key = |v: Json| json!({"concat": v});
    assert!(elements(&json, "service-ips").contains(&(
        key(json!(["10.96.0.10", "tcp", 80])),
        json!({"goto": {"target": "endpoints-3"}})
    )));
    let web: Vec<_> = elements(&json, "endpoints")
        .into_iter()
        .filter(|(k, _)| k["concat"][0] == "10.96.0.10")
        .collect();
    assert_eq!(
        web,
        vec![
            (
                key(json!(["10.96.0.10", "tcp", 80, 0])),
                key(json!(["10.244.0.9", 8080]))
            ),
            (
                key(json!(["10.96.0.10", "tcp", 80, 1])),
                key(json!(["10.244.0.3", 8080]))
            ),
            (
                key(json!(["10.96.0.10", "tcp", 80, 2])),
                key(json!(["10.244.0.5", 8080]))
            ),
        ]
    );

    // Deleting a missing element is refused; flushing empties a map but keeps it.
    let mut batch = Batch::new();
    let mut gone = SetElems::for_set(&sets.no_endpoints);
    gone.push_verdict(&svc(WEB, TCP, 81), ElemVerdict::Goto(cs("reject-chain")))
        .expect("typed");
    gone.add_to_batch(&mut batch, ElemOp::Delete);
    let err = sock.apply(&batch.finalize()).expect_err("missing delete");
    assert!(
        matches!(&err, Error::Rejected { first, .. } if first.errno == Errno::ENOENT),
        "{err}"
    );
    let mut batch = Batch::new();
    batch.add(&FlushSet::new(&sets.endpoints), MsgType::Del);
    sock.apply(&batch.finalize()).expect("flush");
    let json = list_json(&ns).expect("table exists");
    assert!(elements(&json, "endpoints").is_empty());
    assert_eq!(elements(&json, "service-ips").len(), 3);
}

#[test]
fn large_batch_is_one_transaction() {
    let Some((ns, mut sock)) = setup("large_batch_is_one_transaction") else {
        return;
    };
    let sets = Sets::new();
    let mut batch = Batch::new();
    add_table(&mut batch, &sets);
    // 10k services with 2 endpoints each: many element messages over many batch pages.
    const SERVICES: u32 = 10_000;
    let mut services = SetElems::for_set(&sets.service_ips);
    let mut endpoints = SetElems::for_set(&sets.endpoints);
    for i in 0..SERVICES {
        let ip = Ipv4Addr::from(u32::from(Ipv4Addr::new(10, 96, 0, 0)) + i);
        services
            .push_verdict(&svc(ip, TCP, 80), ElemVerdict::Goto(endpoints_chain(2)))
            .expect("typed");
        for slot in 0..2 {
            let pod = Ipv4Addr::from(u32::from(Ipv4Addr::new(10, 244, 0, 0)) + 2 * i + slot);
            endpoints
                .push_data(&ep_key(ip, TCP, 80, slot), &ep(pod, 8080))
                .expect("typed");
        }
    }
    services.add_to_batch(&mut batch, ElemOp::Add);
    endpoints.add_to_batch(&mut batch, ElemOp::Add);
    let batch = batch.finalize();
    let pages = batch.iter().count();
    let bytes: usize = batch.iter().map(<[u8]>::len).sum();
    assert!(
        pages > 1,
        "the batch should span several pages, got {pages}"
    );
    let start = std::time::SystemTime::now();
    sock.apply(&batch).expect("large batch applied");
    println!(
        "{bytes} bytes in {pages} pages, {} messages, applied in {:?}",
        batch.sequence_numbers().len(),
        start.elapsed().unwrap_or_default()
    );
    let json = list_json(&ns).expect("table exists");
    assert_eq!(elements(&json, "service-ips").len(), SERVICES as usize);
    assert_eq!(elements(&json, "endpoints").len(), 2 * SERVICES as usize);

    // One more element on top of 10k is a cheap, separate transaction.
    let mut batch = Batch::new();
    let mut one = SetElems::for_set(&sets.service_ips);
    one.push_verdict(
        &svc(Ipv4Addr::new(10, 97, 0, 1), UDP, 53),
        ElemVerdict::Goto(endpoints_chain(1)),
    )
    .expect("typed");
    one.add_to_batch(&mut batch, ElemOp::Add);
    let start = std::time::SystemTime::now();
    sock.apply(&batch.finalize()).expect("one element");
    println!(
        "one element on top: {:?}",
        start.elapsed().unwrap_or_default()
    );
}

#[test]
fn delete_table() {
    let Some((ns, mut sock)) = setup("delete_table") else {
        return;
    };
    let sets = Sets::new();
    let mut batch = Batch::new();
    add_table(&mut batch, &sets);
    add_elements(&mut batch, &sets);
    sock.apply(&batch.finalize()).expect("flat table applied");
    assert!(list_json(&ns).is_some());

    let mut batch = Batch::new();
    batch.add(&Table::new(TABLE, ProtoFamily::Ipv4), MsgType::Del);
    sock.apply(&batch.finalize()).expect("table deleted");
    assert!(list_json(&ns).is_none(), "table still listed");
    let tables = ns.exec("nft", ["list", "tables"]).expect("nft list tables");
    assert!(
        tables.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&tables.stdout)
    );

    // Deleting it again names the message and ENOENT.
    let mut batch = Batch::new();
    batch.add(&Table::new(TABLE, ProtoFamily::Ipv4), MsgType::Del);
    match sock.apply(&batch.finalize()) {
        Err(Error::Rejected { first, .. }) => {
            assert_eq!(
                (first.kind, first.errno),
                (MsgKind::DelTable, Errno::ENOENT)
            );
        }
        other => panic!("expected ENOENT, got {other:?}"),
    }
}

#[test]
fn affinity_set_with_dynset() {
    let Some((ns, mut sock)) = setup("affinity_set_with_dynset") else {
        return;
    };
    let sets = Sets::new();
    let affinity = affinity_set();
    let mut batch = Batch::new();
    add_table(&mut batch, &sets);
    batch.add(&affinity, MsgType::Add);
    add_affinity_chain(&mut batch, &sets, &affinity, 2);
    // A control-plane element with its own timeout.
    let mut e = SetElems::for_set(&affinity);
    e.push(
        &[
            Value::Ipv4(Ipv4Addr::new(192, 168, 50, 2)),
            Value::Ipv4(WEB),
            Value::Proto(TCP),
            Value::Port(80),
            Value::Mark(1),
        ],
        ElemData::None,
        Some(Duration::from_secs(60)),
    )
    .expect("typed");
    e.add_to_batch(&mut batch, ElemOp::Add);
    sock.apply(&batch.finalize()).expect("affinity applied");

    println!("{}", list_text(&ns));
    let json = list_json(&ns).expect("table exists");
    let set = named(&json, "set", "affinity");
    assert_eq!(
        set["type"],
        json!([
            "ipv4_addr",
            "ipv4_addr",
            "inet_proto",
            "inet_service",
            "mark"
        ])
    );
    assert_eq!(
        (&set["timeout"], &set["size"]),
        (&json!(10_800), &json!(65_535))
    );
    let elem = &set["elem"][0]["elem"];
    assert_eq!(
        elem["val"],
        json!({"concat": ["192.168.50.2", "10.96.0.10", "tcp", 80, 1]})
    );
    assert_eq!(elem["timeout"], 60);

    let client_service = ["saddr", "daddr", "l4proto", "dport"];
    let update = |slot: Json| {
        let mut key = concat_json(&client_service);
        if let Some(fields) = key["concat"].as_array_mut() {
            fields.push(slot);
        }
        json!({"set": {"elem": {"elem": {"timeout": 10_800, "val": key}}, "op": "update", "set": "@affinity"}})
    };
    let rules = rules(&json, "affinity-endpoints-2");
    assert_eq!(rules.len(), 3, "{rules:?}");
    // Slot rules: `<client . service . SLOT> @affinity update @affinity {...} dnat ...`. nft
    // prints the constant slot as "0x1000000 [invalid type]" inside the lookup keys (it does
    // not apply the host byte order of `mark` there); the update shows it right.
    for (slot, rule) in rules[..2].iter().enumerate() {
        assert_eq!(rule[0]["match"]["right"], "@affinity", "{rule}");
        assert_eq!(rule[1], update(json!(slot)), "{rule}");
        assert_eq!(
            rule[2]["dnat"]["addr"]["map"]["data"], "@endpoints",
            "{rule}"
        );
    }
    // The random rule: nft shows the one numgen register in both the update and the dnat key.
    let numgen = json!({"numgen": {"mod": 2, "mode": "random", "offset": 0}});
    assert_eq!(
        rules[2],
        &json!([
            update(numgen),
            dnat_json(&["daddr", "l4proto", "dport", "2"], "endpoints")[0]
        ])
    );
}
