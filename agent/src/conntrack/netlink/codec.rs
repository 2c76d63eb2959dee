//! The ctnetlink messages cleanup speaks, with no I/O: a dump request, a delete request, and
//! replies split and decoded into [`Message`]s. Every length from the kernel is checked before
//! it is used.

use std::io;
use std::net::SocketAddr;

use netlink_packet_core::{
    DefaultNla, NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST, NetlinkHeader, NetlinkMessage,
    NetlinkPayload, Nla,
};
use netlink_packet_netfilter::conntrack::{
    ConntrackAttribute, ConntrackMessage, IPTuple, ProtoTuple, Protocol as CtProtocol, Tuple,
};
use netlink_packet_netfilter::{
    NetfilterHeader, NetfilterMessage, NetfilterMessageInner, NetfilterProtoFamily,
};
use proxy_core::model::{IpFamily, Protocol};

use crate::conntrack::entry::{Entry, Flow};
use crate::conntrack::error::Error;

/// `CTA_ID`: the entry's id (u32, network order).
const CTA_ID: u16 = 12;
/// `CTA_ZONE`: the entry's zone (u16, network order).
const CTA_ZONE: u16 = 18;
/// The type bits of an attribute's kind (without the nested and byte-order flags).
const NLA_TYPE_MASK: u16 = 0x3fff;
/// A netlink message header's length.
const HEADER_LEN: usize = 16;

/// What one message from the kernel says.
#[derive(Debug)]
pub(super) enum Reply {
    /// A table entry; `None` for a protocol without ports (ICMP, GRE, ...).
    Entry(Option<Entry>),
    /// The end of a dump.
    Done,
    /// A request succeeded.
    Ack,
    /// A request failed with this error.
    Error(io::Error),
    /// A message that could not be decoded (skipped, with the reason).
    Undecodable(String),
}

/// One message from the kernel.
#[derive(Debug)]
pub(super) struct Message {
    /// The sequence number of the request it answers.
    pub seq: u32,
    /// Its netlink flags (`NLM_F_DUMP_INTR` marks an inconsistent dump).
    pub flags: u16,
    /// What it says.
    pub reply: Reply,
}

/// A request to list every entry of `family`.
pub(super) fn dump_request(family: IpFamily, seq: u32) -> Vec<u8> {
    request(
        family,
        ConntrackMessage::Get(Vec::new()),
        NLM_F_REQUEST | NLM_F_DUMP,
        seq,
    )
}

/// A request to delete `entry` (by original tuple, zone and id), acknowledged.
pub(super) fn delete_request(entry: &Entry, seq: u32) -> Vec<u8> {
    let mut attrs = vec![ConntrackAttribute::CtaTupleOrig(tuple_attrs(
        entry.protocol,
        entry.original,
    ))];
    if let Some(zone) = entry.zone {
        attrs.push(other(CTA_ZONE, zone.to_be_bytes().to_vec()));
    }
    if let Some(id) = entry.id {
        attrs.push(other(CTA_ID, id.to_be_bytes().to_vec()));
    }
    request(
        entry.family(),
        ConntrackMessage::Delete(attrs),
        NLM_F_REQUEST | NLM_F_ACK,
        seq,
    )
}

fn other(kind: u16, value: Vec<u8>) -> ConntrackAttribute {
    ConntrackAttribute::Other(DefaultNla::new(kind, value))
}

fn tuple_attrs(protocol: Protocol, flow: Flow) -> Vec<Tuple> {
    vec![
        Tuple::Ip(vec![
            IPTuple::SourceAddress(flow.src.ip()),
            IPTuple::DestinationAddress(flow.dst.ip()),
        ]),
        Tuple::Proto(vec![
            ProtoTuple::Protocol(ct_protocol(protocol)),
            ProtoTuple::SourcePort(flow.src.port()),
            ProtoTuple::DestinationPort(flow.dst.port()),
        ]),
    ]
}

fn request(family: IpFamily, message: ConntrackMessage, flags: u16, seq: u32) -> Vec<u8> {
    let mut header = NetlinkHeader::default();
    header.flags = flags;
    header.sequence_number = seq;
    let nf_family = match family {
        IpFamily::V4 => NetfilterProtoFamily::IPv4,
        IpFamily::V6 => NetfilterProtoFamily::IPv6,
    };
    let payload = NetfilterMessage::new(NetfilterHeader::new(nf_family, 0, 0), message);
    let mut msg = NetlinkMessage::new(header, NetlinkPayload::from(payload));
    msg.finalize();
    let mut buf = vec![0; msg.buffer_len()];
    msg.serialize(&mut buf);
    buf
}

fn ct_protocol(protocol: Protocol) -> CtProtocol {
    match protocol {
        Protocol::Tcp => CtProtocol::Tcp,
        Protocol::Udp => CtProtocol::Udp,
        Protocol::Sctp => CtProtocol::Sctp,
    }
}

/// The messages of one datagram from the kernel, in order. A header whose length does not fit
/// the datagram ends the walk with [`Error::Malformed`].
pub(super) fn messages(mut buf: &[u8]) -> impl Iterator<Item = Result<Message, Error>> + '_ {
    std::iter::from_fn(move || {
        if buf.is_empty() {
            return None;
        }
        let Some(len) = u32_at(buf, 0).and_then(|l| usize::try_from(l).ok()) else {
            buf = &[];
            return Some(Err(Error::Malformed("truncated netlink header")));
        };
        if len < HEADER_LEN || len > buf.len() {
            buf = &[];
            return Some(Err(Error::Malformed(
                "netlink message length out of bounds",
            )));
        }
        let (msg, rest) = buf.split_at(len);
        buf = rest.get(align4(len) - len..).unwrap_or(&[]);
        Some(Ok(decode(msg)))
    })
}

fn align4(n: usize) -> usize {
    n.div_ceil(4) * 4
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    let bytes: [u8; 4] = b.get(at..at + 4)?.try_into().ok()?;
    Some(u32::from_ne_bytes(bytes))
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    let bytes: [u8; 2] = b.get(at..at + 2)?.try_into().ok()?;
    Some(u16::from_ne_bytes(bytes))
}

/// Decodes one whole message (its length already checked).
fn decode(msg: &[u8]) -> Message {
    let flags = u16_at(msg, 6).unwrap_or(0);
    let seq = u32_at(msg, 8).unwrap_or(0);
    let reply = match NetlinkMessage::<NetfilterMessage>::deserialize(msg) {
        Ok(parsed) => match parsed.payload {
            NetlinkPayload::Done(_) => Reply::Done,
            NetlinkPayload::Error(e) if e.code.is_none() => Reply::Ack,
            NetlinkPayload::Error(e) => Reply::Error(e.to_io()),
            NetlinkPayload::InnerMessage(m) => inner(m),
            other => Reply::Undecodable(format!("unexpected message {other:?}")),
        },
        Err(e) => Reply::Undecodable(e.to_string()),
    };
    Message { seq, flags, reply }
}

fn inner(m: NetfilterMessage) -> Reply {
    match m.inner {
        NetfilterMessageInner::Conntrack(
            ConntrackMessage::New(attrs) | ConntrackMessage::Get(attrs),
        ) => match entry(&attrs) {
            Ok(entry) => Reply::Entry(entry),
            Err(why) => Reply::Undecodable(why.to_owned()),
        },
        other => Reply::Undecodable(format!("not a conntrack entry: {other:?}")),
    }
}

/// The entry an IPCTNL_MSG_CT_NEW/GET message describes; `None` for a protocol without ports.
pub(super) fn entry(attrs: &[ConntrackAttribute]) -> Result<Option<Entry>, &'static str> {
    let (mut original, mut reply, mut zone, mut id) = (None, None, None, None);
    for attr in attrs {
        match attr {
            ConntrackAttribute::CtaTupleOrig(t) => original = Some(tuple(t)?),
            ConntrackAttribute::CtaTupleReply(t) => reply = Some(tuple(t)?),
            ConntrackAttribute::Other(nla) => match nla.kind() & NLA_TYPE_MASK {
                CTA_ZONE => zone = Some(u16::from_be_bytes(value(nla)?)),
                CTA_ID => id = Some(u32::from_be_bytes(value(nla)?)),
                _ => {}
            },
            _ => {}
        }
    }
    let (Some(original), Some(reply)) = (original, reply) else {
        return Err("an entry without its original or reply tuple");
    };
    let (Some((protocol, original)), Some((_, reply))) = (original, reply) else {
        return Ok(None);
    };
    Ok(Some(Entry {
        protocol,
        original,
        reply,
        zone,
        id,
    }))
}

/// A fixed-size attribute value.
fn value<const N: usize>(nla: &DefaultNla) -> Result<[u8; N], &'static str> {
    if nla.value_len() != N {
        return Err("an attribute of the wrong size");
    }
    let mut out = [0u8; N];
    nla.emit_value(&mut out);
    Ok(out)
}

/// A tuple's protocol and flow; `None` when the protocol has no ports.
fn tuple(tuples: &[Tuple]) -> Result<Option<(Protocol, Flow)>, &'static str> {
    let (mut src, mut dst, mut proto, mut sport, mut dport) = (None, None, None, None, None);
    for t in tuples {
        match t {
            Tuple::Ip(ips) => {
                for ip in ips {
                    match ip {
                        IPTuple::SourceAddress(a) => src = Some(*a),
                        IPTuple::DestinationAddress(a) => dst = Some(*a),
                        _ => {}
                    }
                }
            }
            Tuple::Proto(parts) => {
                for part in parts {
                    match part {
                        ProtoTuple::Protocol(p) => proto = Some(*p),
                        ProtoTuple::SourcePort(p) => sport = Some(*p),
                        ProtoTuple::DestinationPort(p) => dport = Some(*p),
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    let protocol = match proto.ok_or("a tuple without a protocol")? {
        CtProtocol::Tcp => Protocol::Tcp,
        CtProtocol::Udp => Protocol::Udp,
        CtProtocol::Sctp => Protocol::Sctp,
        _ => return Ok(None),
    };
    let (Some(src), Some(dst), Some(sport), Some(dport)) = (src, dst, sport, dport) else {
        return Err("a tuple without its addresses or ports");
    };
    let flow = Flow::new(SocketAddr::new(src, sport), SocketAddr::new(dst, dport));
    Ok(Some((protocol, flow)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sa(s: &str) -> SocketAddr {
        s.parse().expect("socket address")
    }

    /// A dump reply as the kernel sends it: an IPCTNL_MSG_CT_NEW message with both tuples, a
    /// zone, an id and a status (ignored).
    fn kernel_entry(seq: u32, entry: &Entry) -> Vec<u8> {
        let mut attrs = vec![
            ConntrackAttribute::CtaTupleOrig(tuple_attrs(entry.protocol, entry.original)),
            ConntrackAttribute::CtaTupleReply(tuple_attrs(entry.protocol, entry.reply)),
            ConntrackAttribute::CtaTimeout(30),
        ];
        if let Some(zone) = entry.zone {
            attrs.push(other(CTA_ZONE, zone.to_be_bytes().to_vec()));
        }
        if let Some(id) = entry.id {
            attrs.push(other(CTA_ID, id.to_be_bytes().to_vec()));
        }
        request(entry.family(), ConntrackMessage::New(attrs), 0, seq)
    }

    fn sample(v6: bool) -> Entry {
        let (client, vip, ep) = if v6 {
            ("[fd00::9]:40000", "[fd00:96::10]:53", "[fd00:244::2]:5353")
        } else {
            ("10.0.0.9:40000", "10.96.0.10:53", "10.244.0.2:5353")
        };
        Entry {
            protocol: Protocol::Udp,
            original: Flow::new(sa(client), sa(vip)),
            reply: Flow::new(sa(ep), sa(client)),
            zone: Some(3),
            id: Some(0xdead_beef),
        }
    }

    #[test]
    fn a_kernel_entry_of_either_family_decodes_exactly() {
        for v6 in [false, true] {
            let want = sample(v6);
            let mut datagram = kernel_entry(7, &want);
            datagram.extend(kernel_entry(8, &want));
            let got: Vec<Message> = messages(&datagram)
                .collect::<Result<_, _>>()
                .expect("split");
            assert_eq!(got.len(), 2);
            assert_eq!(got[0].seq, 7);
            assert!(
                matches!(&got[1].reply, Reply::Entry(Some(e)) if *e == want),
                "{got:?}"
            );
        }
    }

    #[test]
    fn a_delete_request_names_the_original_tuple_zone_and_id() {
        let entry = sample(false);
        let bytes = delete_request(&entry, 9);
        let msg = NetlinkMessage::<NetfilterMessage>::deserialize(&bytes).expect("decode");
        assert_eq!(msg.header.sequence_number, 9);
        assert_eq!(msg.header.flags, NLM_F_REQUEST | NLM_F_ACK);
        let NetlinkPayload::InnerMessage(NetfilterMessage {
            inner: NetfilterMessageInner::Conntrack(ConntrackMessage::Delete(attrs)),
            ..
        }) = msg.payload
        else {
            panic!("not a conntrack delete: {msg:?}");
        };
        let ConntrackAttribute::CtaTupleOrig(orig) = &attrs[0] else {
            panic!("{attrs:?}");
        };
        assert_eq!(tuple(orig), Ok(Some((Protocol::Udp, entry.original))));
        assert_eq!(attrs.len(), 3, "tuple, zone, id: {attrs:?}");
    }

    #[test]
    fn truncated_or_lying_lengths_are_errors_never_panics() {
        let whole = kernel_entry(1, &sample(true));
        for cut in 0..whole.len() {
            for msg in messages(&whole[..cut]) {
                match msg {
                    Err(Error::Malformed(_)) => {}
                    Ok(Message {
                        reply: Reply::Undecodable(_),
                        ..
                    }) => {}
                    other => panic!("prefix of {cut} bytes gave {other:?}"),
                }
            }
        }
        // The header agrees with the cut: the attributes themselves are truncated.
        for cut in HEADER_LEN..whole.len() {
            let mut short = whole[..cut].to_vec();
            short[..4].copy_from_slice(&u32::try_from(cut).expect("small").to_ne_bytes());
            let decoded: Vec<_> = messages(&short).collect();
            assert_eq!(decoded.len(), 1, "cut {cut}");
        }
        let mut lying = whole.clone();
        lying[..4].copy_from_slice(&u32::MAX.to_ne_bytes());
        assert!(matches!(
            messages(&lying).next(),
            Some(Err(Error::Malformed(_)))
        ));
    }

    #[test]
    fn corrupted_attribute_bytes_never_panic() {
        let whole = kernel_entry(1, &sample(false));
        let mut x: u32 = 0x9e37_79b9;
        for _ in 0..5000 {
            let mut bytes = whole.clone();
            for _ in 0..3 {
                // xorshift: a fixed sequence of positions and values past the netlink header.
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                let at = HEADER_LEN + (x as usize) % (bytes.len() - HEADER_LEN);
                bytes[at] = (x >> 24) as u8;
            }
            assert_eq!(messages(&bytes).count(), 1);
        }
    }

    #[test]
    fn an_entry_without_ports_is_skipped_and_one_without_tuples_is_refused() {
        let icmp = vec![
            ConntrackAttribute::CtaTupleOrig(vec![Tuple::Proto(vec![ProtoTuple::Protocol(
                CtProtocol::Icmp,
            )])]),
            ConntrackAttribute::CtaTupleReply(vec![Tuple::Proto(vec![ProtoTuple::Protocol(
                CtProtocol::Icmp,
            )])]),
        ];
        assert_eq!(entry(&icmp), Ok(None));
        assert!(entry(&[]).is_err());
        let wrong_zone = vec![
            ConntrackAttribute::CtaTupleOrig(tuple_attrs(Protocol::Udp, sample(false).original)),
            ConntrackAttribute::CtaTupleReply(tuple_attrs(Protocol::Udp, sample(false).reply)),
            other(CTA_ZONE, vec![1, 2, 3]),
        ];
        assert!(entry(&wrong_zone).is_err());
    }
}
