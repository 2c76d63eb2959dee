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
