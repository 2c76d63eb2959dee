//! nftables expressions missing from `nftnl` 0.9.4, all with explicit registers.
//!
//! `nftnl`'s own `Payload`, `Meta`, `Cmp`, `Lookup` and `Nat` always use register 1 (and `Nat`
//! only the four 16-byte registers), which rules out concatenations: `ip daddr . th dport`
//! loads the address into word 0 and the port into word 1 (see [`crate::types`]). The
//! expressions here take a [`Reg`] for every register they read or write. Use `nftnl`'s
//! `Verdict` and `Counter` alongside them; they need no registers.
//!
//! Each type mirrors one `nft --debug=netlink` line, shown in its doc.

use std::ffi::{CStr, CString, c_void};
use std::ptr::NonNull;
use std::time::Duration;

use nftnl::expr::Expression;
use nftnl::{ProtoFamily, Rule};
use nftnl_sys as sys;

use crate::types::Reg;

/// Owns a freshly allocated `nftnl_expr` while its attributes are set.
struct ExprBuilder(NonNull<sys::nftnl_expr>);

impl ExprBuilder {
    fn new(name: &CStr) -> Self {
        // SAFETY: `name` is a valid NUL-terminated string; libnftnl only reads it.
        let ptr = unsafe { sys::nftnl_expr_alloc(name.as_ptr()) };
        match NonNull::new(ptr) {
            Some(ptr) => ExprBuilder(ptr),
            // Allocation failure of a tiny object (or an unknown name, a bug here): nothing
            // sensible to do, same policy as nftnl and std.
            None => std::process::abort(),
        }
    }

    fn u32(self, attr: u32, value: u32) -> Self {
        // SAFETY: the pointer is a live expr owned by `self`; attr is a u32 attribute of it.
        unsafe { sys::nftnl_expr_set_u32(self.0.as_ptr(), attr as u16, value) };
        self
    }

    fn u8(self, attr: u32, value: u8) -> Self {
        // SAFETY: as in `u32`; attr is a u8 attribute.
        unsafe { sys::nftnl_expr_set_u8(self.0.as_ptr(), attr as u16, value) };
        self
    }

    fn u64(self, attr: u32, value: u64) -> Self {
        // SAFETY: as in `u32`; attr is a u64 attribute.
        unsafe { sys::nftnl_expr_set_u64(self.0.as_ptr(), attr as u16, value) };
        self
    }

    fn str(self, attr: u32, value: &CStr) -> Self {
        // SAFETY: as in `u32`; libnftnl strdup()s the NUL-terminated string.
        unsafe { sys::nftnl_expr_set_str(self.0.as_ptr(), attr as u16, value.as_ptr()) };
        self
    }

    fn bytes(self, attr: u32, value: &[u8]) -> Self {
        // SAFETY: as in `u32`; libnftnl copies `value.len()` bytes from the slice.
        unsafe {
            sys::nftnl_expr_set(
                self.0.as_ptr(),
                attr as u16,
                value.as_ptr().cast::<c_void>(),
                value.len() as u32,
            )
        };
        self
    }

    /// Hands ownership to the caller (`Rule::add_expr` gives it to the rule).
    fn finish(self) -> NonNull<sys::nftnl_expr> {
        self.0
    }
}

/// Where a payload offset counts from.
#[derive(Debug, Copy, Clone, Eq, PartialEq, Hash)]
pub enum PayloadBase {
    /// The link-layer header.
    LinkLayer,
    /// The network (IP) header.
    Network,
    /// The transport header (`th`): TCP, UDP, SCTP, ... alike.
    Transport,
}

/// `[ payload load LENb @ BASE header + OFFSET => reg DREG ]`: load packet bytes.
#[derive(Debug, Copy, Clone, Eq, PartialEq, Hash)]
pub struct PayloadLoad {
    /// Header the offset is relative to.
    pub base: PayloadBase,
    /// Byte offset in that header.
    pub offset: u32,
    /// Bytes to load.
    pub len: u32,
    /// Destination register.
    pub dreg: Reg,
}

impl PayloadLoad {
    /// `ip saddr`.
    pub const fn ip_saddr(dreg: Reg) -> Self {
        Self::new(PayloadBase::Network, 12, 4, dreg)
    }

    /// `ip daddr`.
    pub const fn ip_daddr(dreg: Reg) -> Self {
        Self::new(PayloadBase::Network, 16, 4, dreg)
    }

    /// `ip6 saddr`.
    pub const fn ip6_saddr(dreg: Reg) -> Self {
        Self::new(PayloadBase::Network, 8, 16, dreg)
    }

    /// `ip6 daddr`.
    pub const fn ip6_daddr(dreg: Reg) -> Self {
        Self::new(PayloadBase::Network, 24, 16, dreg)
    }

    /// `th sport` (any transport protocol with ports).
    pub const fn th_sport(dreg: Reg) -> Self {
        Self::new(PayloadBase::Transport, 0, 2, dreg)
    }

    /// `th dport` (any transport protocol with ports).
    pub const fn th_dport(dreg: Reg) -> Self {
        Self::new(PayloadBase::Transport, 2, 2, dreg)
    }

    /// An arbitrary load.
    pub const fn new(base: PayloadBase, offset: u32, len: u32, dreg: Reg) -> Self {
        PayloadLoad {
            base,
            offset,
            len,
            dreg,
        }
    }
}

impl Expression for PayloadLoad {
    fn to_expr(&self, _rule: &Rule) -> NonNull<sys::nftnl_expr> {
        let base = match self.base {
            PayloadBase::LinkLayer => libc::NFT_PAYLOAD_LL_HEADER,
            PayloadBase::Network => libc::NFT_PAYLOAD_NETWORK_HEADER,
            PayloadBase::Transport => libc::NFT_PAYLOAD_TRANSPORT_HEADER,
        };
        ExprBuilder::new(c"payload")
            .u32(sys::NFTNL_EXPR_PAYLOAD_BASE, base as u32)
            .u32(sys::NFTNL_EXPR_PAYLOAD_OFFSET, self.offset)
            .u32(sys::NFTNL_EXPR_PAYLOAD_LEN, self.len)
            .u32(sys::NFTNL_EXPR_PAYLOAD_DREG, self.dreg.raw())
            .finish()
    }
}

/// Packet metadata keys for [`MetaLoad`].
#[derive(Debug, Copy, Clone, Eq, PartialEq, Hash)]
pub enum MetaKey {
    /// `meta l4proto` (1 byte).
    L4Proto,
    /// `meta nfproto` (1 byte).
    NfProto,
    /// `meta mark` (4 bytes, host order).
    Mark,
}

impl MetaKey {
    /// The kernel's `NFT_META_*` number.
    fn raw(self) -> u32 {
        (match self {
            MetaKey::L4Proto => libc::NFT_META_L4PROTO,
            MetaKey::NfProto => libc::NFT_META_NFPROTO,
            MetaKey::Mark => libc::NFT_META_MARK,
        }) as u32
    }
}

/// `[ meta load KEY => reg DREG ]`.
#[derive(Debug, Copy, Clone, Eq, PartialEq, Hash)]
pub struct MetaLoad {
    /// What to load.
    pub key: MetaKey,
    /// Destination register.
    pub dreg: Reg,
}

impl Expression for MetaLoad {
    fn to_expr(&self, _rule: &Rule) -> NonNull<sys::nftnl_expr> {
        ExprBuilder::new(c"meta")
            .u32(sys::NFTNL_EXPR_META_KEY, self.key.raw())
            .u32(sys::NFTNL_EXPR_META_DREG, self.dreg.raw())
            .finish()
    }
}

/// `[ immediate reg DREG DATA ]`: load constant bytes (in register layout) into a register,
/// e.g. a fixed `numgen` slot as `Value::Mark` bytes. `nftnl::expr::Immediate` only reaches
/// the four 16-byte registers.
#[derive(Debug, Clone, Eq, PartialEq, Hash)]
pub struct ImmediateData {
    /// The bytes (at most 16).
    pub data: Vec<u8>,
    /// Destination register.
    pub dreg: Reg,
}

impl Expression for ImmediateData {
    fn to_expr(&self, _rule: &Rule) -> NonNull<sys::nftnl_expr> {
        ExprBuilder::new(c"immediate")
            .u32(sys::NFTNL_EXPR_IMM_DREG, self.dreg.raw())
            .bytes(sys::NFTNL_EXPR_IMM_DATA, &self.data)
            .finish()
    }
}

/// Comparison operators for [`Cmp`].
#[derive(Debug, Copy, Clone, Eq, PartialEq, Hash)]
pub enum CmpOp {
    /// `==`.
    Eq,
    /// `!=`.
    Neq,
}

/// `[ cmp OP reg SREG DATA ]`: the rule stops unless the register matches.
#[derive(Debug, Clone, Eq, PartialEq, Hash)]
pub struct Cmp {
    /// Register compared.
    pub sreg: Reg,
    /// Operator.
    pub op: CmpOp,
    /// Bytes compared against, in register layout (mind byte order).
    pub data: Vec<u8>,
}

impl Expression for Cmp {
    fn to_expr(&self, _rule: &Rule) -> NonNull<sys::nftnl_expr> {
        let op = match self.op {
            CmpOp::Eq => libc::NFT_CMP_EQ,
            CmpOp::Neq => libc::NFT_CMP_NEQ,
        };
        ExprBuilder::new(c"cmp")
            .u32(sys::NFTNL_EXPR_CMP_SREG, self.sreg.raw())
            .u32(sys::NFTNL_EXPR_CMP_OP, op as u32)
            .bytes(sys::NFTNL_EXPR_CMP_DATA, &self.data)
            .finish()
    }
}

/// `[ numgen reg DREG = random mod MODULUS offset OFFSET ]`: a uniform random number in
/// `offset..offset + modulus`, host byte order.
#[derive(Debug, Copy, Clone, Eq, PartialEq, Hash)]
pub struct NumgenRandom {
    /// Number of distinct values (must be > 0).
    pub modulus: u32,
    /// Added to the result.
    pub offset: u32,
    /// Destination register.
    pub dreg: Reg,
}

impl Expression for NumgenRandom {
    fn to_expr(&self, _rule: &Rule) -> NonNull<sys::nftnl_expr> {
        let b = ExprBuilder::new(c"numgen")
            .u32(sys::NFTNL_EXPR_NG_DREG, self.dreg.raw())
            .u32(sys::NFTNL_EXPR_NG_MODULUS, self.modulus)
            .u32(sys::NFTNL_EXPR_NG_TYPE, libc::NFT_NG_RANDOM as u32);
        if self.offset != 0 {
            b.u32(sys::NFTNL_EXPR_NG_OFFSET, self.offset).finish()
        } else {
            b.finish()
        }
    }
}

/// `[ lookup reg SREG set NAME dreg DREG ]`: look the key in SREG.. up in a named set.
///
/// * no `dreg`: set membership (`ip daddr @set`), the rule stops on a miss;
/// * `dreg` = [`Reg::VERDICT`]: a verdict map (`... vmap @name`);
/// * `dreg` = a data register: a data map (`... map @name`), the data lands there.
#[derive(Debug, Clone, Eq, PartialEq, Hash)]
pub struct Lookup {
    /// Name of the set or map (in the rule's table).
    pub set: CString,
    /// First register of the key.
    pub sreg: Reg,
    /// Where the mapped data or verdict goes; `None` for plain membership.
    pub dreg: Option<Reg>,
    /// Invert a membership test (`!= @set`); only without `dreg`.
    pub invert: bool,
}

impl Lookup {
    /// Membership test of the key at `sreg` in `set`.
    pub fn member(set: &CStr, sreg: Reg) -> Self {
        Lookup {
            set: set.to_owned(),
            sreg,
            dreg: None,
            invert: false,
        }
    }

    /// `vmap @set`: the element's verdict is applied.
    pub fn vmap(set: &CStr, sreg: Reg) -> Self {
        Lookup {
            dreg: Some(Reg::VERDICT),
            ..Self::member(set, sreg)
        }
    }

    /// `map @set`: the element's data is loaded into `dreg`.
    pub fn map(set: &CStr, sreg: Reg, dreg: Reg) -> Self {
        Lookup {
            dreg: Some(dreg),
            ..Self::member(set, sreg)
        }
    }
}

impl Expression for Lookup {
    fn to_expr(&self, _rule: &Rule) -> NonNull<sys::nftnl_expr> {
        let mut b = ExprBuilder::new(c"lookup")
            .u32(sys::NFTNL_EXPR_LOOKUP_SREG, self.sreg.raw())
            .str(sys::NFTNL_EXPR_LOOKUP_SET, &self.set);
        if let Some(dreg) = self.dreg {
            b = b.u32(sys::NFTNL_EXPR_LOOKUP_DREG, dreg.raw());
        }
        if self.invert {
            b = b.u32(sys::NFTNL_EXPR_LOOKUP_FLAGS, libc::NFT_LOOKUP_F_INV as u32);
        }
        b.finish()
    }
}

/// Which side of the connection a [`Nat`] rewrites.
#[derive(Debug, Copy, Clone, Eq, PartialEq, Hash)]
pub enum NatKind {
    /// `snat`.
    Snat,
    /// `dnat`.
    Dnat,
}

/// `[ nat dnat ip addr_min reg A proto_min reg P ]`: NAT to the address (and port) held in
/// registers. With a preceding map lookup whose data is `ipv4_addr . inet_service` into word
/// `w`, `addr = w` and `port = w + 1` gives `dnat to ... map @name`.
///
/// `nftnl::expr::Nat` does the same but only accepts the four 16-byte registers, so the port
/// cannot sit in the word right after the address.
#[derive(Debug, Copy, Clone, Eq, PartialEq, Hash)]
pub struct Nat {
    /// SNAT or DNAT.
    pub kind: NatKind,
    /// Address family of the address register (`Ipv4` or `Ipv6`).
    pub family: ProtoFamily,
    /// Register holding the address.
    pub addr: Reg,
    /// Register holding the port (network order, first 2 bytes of the word), if any.
    pub port: Option<Reg>,
}

impl Expression for Nat {
    fn to_expr(&self, _rule: &Rule) -> NonNull<sys::nftnl_expr> {
        let kind = match self.kind {
            NatKind::Snat => libc::NFT_NAT_SNAT,
            NatKind::Dnat => libc::NFT_NAT_DNAT,
        };
        let b = ExprBuilder::new(c"nat")
            .u32(sys::NFTNL_EXPR_NAT_TYPE, kind as u32)
            .u32(sys::NFTNL_EXPR_NAT_FAMILY, self.family as u32)
            .u32(sys::NFTNL_EXPR_NAT_REG_ADDR_MIN, self.addr.raw());
        match self.port {
            Some(port) => b
                .u32(sys::NFTNL_EXPR_NAT_REG_PROTO_MIN, port.raw())
                .finish(),
            None => b.finish(),
        }
    }
}

/// `[ fib daddr type => reg DREG ]`: the route type of the destination address (host-order
/// `RTN_*` value); [`FibDaddrType::local`] builds `fib daddr type local`.
#[derive(Debug, Copy, Clone, Eq, PartialEq, Hash)]
pub struct FibDaddrType {
    /// Destination register.
    pub dreg: Reg,
}

impl FibDaddrType {
    /// `RTN_LOCAL`: the address is one of this host's.
    pub const RTN_LOCAL: u32 = 2;

    /// `fib daddr type local` as two expressions: the lookup into `reg` and the comparison.
    pub fn local(reg: Reg) -> (FibDaddrType, Cmp) {
        (
            FibDaddrType { dreg: reg },
            Cmp {
                sreg: reg,
                op: CmpOp::Eq,
                data: Self::RTN_LOCAL.to_ne_bytes().to_vec(),
            },
        )
    }
}

/// `NFTA_FIB_F_DADDR`.
const NFTA_FIB_F_DADDR: u32 = 1 << 1;
/// `NFT_FIB_RESULT_ADDRTYPE`.
const NFT_FIB_RESULT_ADDRTYPE: u32 = 3;

impl Expression for FibDaddrType {
    fn to_expr(&self, _rule: &Rule) -> NonNull<sys::nftnl_expr> {
        ExprBuilder::new(c"fib")
            .u32(sys::NFTNL_EXPR_FIB_FLAGS, NFTA_FIB_F_DADDR)
            .u32(sys::NFTNL_EXPR_FIB_RESULT, NFT_FIB_RESULT_ADDRTYPE)
            .u32(sys::NFTNL_EXPR_FIB_DREG, self.dreg.raw())
            .finish()
    }
}

/// `[ reject type T code C ]`.
///
/// `nftnl::expr::Verdict::Reject(Icmp(code))` sends ICMPX codes even in `ip`/`ip6` tables,
/// where the kernel reads them as plain ICMP codes (`PortUnreach` = 1 becomes
/// host-unreachable); this type keeps the two apart.
#[derive(Debug, Copy, Clone, Eq, PartialEq, Hash)]
pub enum Reject {
    /// ICMP (ip) / ICMPv6 (ip6) unreachable with a family-specific code.
    Icmp(u8),
    /// TCP reset; only valid after a `meta l4proto tcp` match.
    TcpRst,
    /// Family-independent ICMPX unreachable (`inet`/`bridge` tables).
    Icmpx(u8),
}

impl Reject {
    /// Plain `reject` in an `ip` table: ICMP port unreachable.
    pub const PORT_UNREACHABLE_V4: Reject = Reject::Icmp(3);
    /// Plain `reject` in an `ip6` table: ICMPv6 port unreachable.
    pub const PORT_UNREACHABLE_V6: Reject = Reject::Icmp(4);
}

impl Expression for Reject {
    fn to_expr(&self, _rule: &Rule) -> NonNull<sys::nftnl_expr> {
        let (kind, code) = match *self {
            Reject::Icmp(code) => (libc::NFT_REJECT_ICMP_UNREACH, code),
            Reject::TcpRst => (libc::NFT_REJECT_TCP_RST, 0),
            Reject::Icmpx(code) => (libc::NFT_REJECT_ICMPX_UNREACH, code),
        };
        ExprBuilder::new(c"reject")
            .u32(sys::NFTNL_EXPR_REJECT_TYPE, kind as u32)
            .u8(sys::NFTNL_EXPR_REJECT_CODE, code)
            .finish()
    }
}

/// Operation of a [`Dynset`].
#[derive(Debug, Copy, Clone, Eq, PartialEq, Hash)]
pub enum DynsetOp {
    /// `add @set { ... }`: insert if absent, never refresh.
    Add,
    /// `update @set { ... }`: insert or refresh the timeout (and data).
    Update,
    /// `delete @set { ... }`: remove the element (Linux 5.14+).
    Delete,
}

/// `NFT_DYNSET_OP_DELETE` (missing from `libc`).
const NFT_DYNSET_OP_DELETE: i32 = 2;

/// `[ dynset update reg_key K set NAME timeout Tms sreg_data D ]`: add or refresh an element
/// from the packet path. The set needs the `dynamic` flag ([`crate::set::SetDef::dynamic`])
/// and, for a timeout, the `timeout` flag.
#[derive(Debug, Clone, Eq, PartialEq, Hash)]
pub struct Dynset {
    /// Add or update.
    pub op: DynsetOp,
    /// Target set or map.
    pub set: CString,
    /// First register of the key.
    pub sreg_key: Reg,
    /// First register of the data, for maps. The kernel accepts data that a map lookup put
    /// there, but `nft list` 1.0.6 then aborts (`netlink_parse_concat_expr: Assertion
    /// 'consumed > 0'`), so keep such rules out of tables people inspect.
    pub sreg_data: Option<Reg>,
    /// Element timeout; `None` uses the set's default.
    pub timeout: Option<Duration>,
}

impl Expression for Dynset {
    fn to_expr(&self, _rule: &Rule) -> NonNull<sys::nftnl_expr> {
        let op = match self.op {
            DynsetOp::Add => libc::NFT_DYNSET_OP_ADD,
            DynsetOp::Update => libc::NFT_DYNSET_OP_UPDATE,
            DynsetOp::Delete => NFT_DYNSET_OP_DELETE,
        };
        let mut b = ExprBuilder::new(c"dynset")
            .u32(sys::NFTNL_EXPR_DYNSET_OP, op as u32)
            .str(sys::NFTNL_EXPR_DYNSET_SET_NAME, &self.set)
            .u32(sys::NFTNL_EXPR_DYNSET_SREG_KEY, self.sreg_key.raw());
        if let Some(data) = self.sreg_data {
            b = b.u32(sys::NFTNL_EXPR_DYNSET_SREG_DATA, data.raw());
        }
        if let Some(timeout) = self.timeout {
            b = b.u64(sys::NFTNL_EXPR_DYNSET_TIMEOUT, millis(timeout));
        }
        b.finish()
    }
}

/// A duration in whole milliseconds, as nftables timeouts are expressed (saturating).
pub(crate) fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Which address a [`Fib`] lookup routes.
#[derive(Debug, Copy, Clone, Eq, PartialEq, Hash)]
pub enum FibAddr {
    /// `fib saddr`.
    Saddr,
    /// `fib daddr`.
    Daddr,
}

/// `[ fib saddr|daddr type => reg DREG ]`: the route type of the packet's source or
/// destination address (host-order `RTN_*` value). [`FibDaddrType`] is the `daddr` case.
#[derive(Debug, Copy, Clone, Eq, PartialEq, Hash)]
pub struct Fib {
    /// The address looked up.
    pub addr: FibAddr,
    /// Destination register.
    pub dreg: Reg,
}

/// `NFTA_FIB_F_SADDR`.
const NFTA_FIB_F_SADDR: u32 = 1 << 0;

impl Fib {
    /// `fib ADDR type local` as two expressions: the lookup into `reg` and the comparison.
    pub fn local(addr: FibAddr, reg: Reg) -> (Fib, Cmp) {
        (
            Fib { addr, dreg: reg },
            Cmp {
                sreg: reg,
                op: CmpOp::Eq,
                data: FibDaddrType::RTN_LOCAL.to_ne_bytes().to_vec(),
            },
        )
    }
}

impl Expression for Fib {
    fn to_expr(&self, _rule: &Rule) -> NonNull<sys::nftnl_expr> {
        let flags = match self.addr {
            FibAddr::Saddr => NFTA_FIB_F_SADDR,
            FibAddr::Daddr => NFTA_FIB_F_DADDR,
        };
        ExprBuilder::new(c"fib")
            .u32(sys::NFTNL_EXPR_FIB_FLAGS, flags)
            .u32(sys::NFTNL_EXPR_FIB_RESULT, NFT_FIB_RESULT_ADDRTYPE)
            .u32(sys::NFTNL_EXPR_FIB_DREG, self.dreg.raw())
            .finish()
    }
}

/// Conntrack keys for [`CtLoad`].
#[derive(Debug, Copy, Clone, Eq, PartialEq, Hash)]
pub enum CtKey {
    /// `ct state` (4-byte bitmask, host order).
    State,
    /// `ct status` (4-byte bitmask, host order).
    Status,
    /// `ct original ip daddr` (4 bytes; needs a direction).
    DstIp,
    /// `ct original ip6 daddr` (16 bytes; needs a direction).
    DstIp6,
    /// `ct original proto-dst` (2 bytes, network order; needs a direction).
    ProtoDst,
}

/// Conntrack direction `original` (`IP_CT_DIR_ORIGINAL`).
const IP_CT_DIR_ORIGINAL: u8 = 0;

/// `[ ct load KEY => reg DREG [, dir original] ]`.
#[derive(Debug, Copy, Clone, Eq, PartialEq, Hash)]
pub struct CtLoad {
    /// What to load.
    pub key: CtKey,
    /// Read the original direction's tuple (required for the address and port keys).
    pub original: bool,
    /// Destination register.
    pub dreg: Reg,
}

impl Expression for CtLoad {
    fn to_expr(&self, _rule: &Rule) -> NonNull<sys::nftnl_expr> {
        let key = match self.key {
            CtKey::State => libc::NFT_CT_STATE,
            CtKey::Status => libc::NFT_CT_STATUS,
            CtKey::DstIp => libc::NFT_CT_DST_IP,
            CtKey::DstIp6 => libc::NFT_CT_DST_IP6,
            CtKey::ProtoDst => libc::NFT_CT_PROTO_DST,
        };
        let b = ExprBuilder::new(c"ct")
            .u32(sys::NFTNL_EXPR_CT_KEY, key as u32)
            .u32(sys::NFTNL_EXPR_CT_DREG, self.dreg.raw());
        if self.original {
            b.u8(sys::NFTNL_EXPR_CT_DIR, IP_CT_DIR_ORIGINAL).finish()
        } else {
            b.finish()
        }
    }
}

/// `[ bitwise reg DREG = ( reg SREG & MASK ) ^ XOR ]`: mask and xor `mask.len()` bytes.
#[derive(Debug, Clone, Eq, PartialEq, Hash)]
pub struct Bitwise {
    /// Source register.
    pub sreg: Reg,
    /// Destination register.
    pub dreg: Reg,
    /// The mask (same length as `xor`).
    pub mask: Vec<u8>,
    /// The xor operand.
    pub xor: Vec<u8>,
}

impl Expression for Bitwise {
    fn to_expr(&self, _rule: &Rule) -> NonNull<sys::nftnl_expr> {
        ExprBuilder::new(c"bitwise")
            .u32(sys::NFTNL_EXPR_BITWISE_SREG, self.sreg.raw())
            .u32(sys::NFTNL_EXPR_BITWISE_DREG, self.dreg.raw())
            .u32(sys::NFTNL_EXPR_BITWISE_LEN, self.mask.len() as u32)
            .bytes(sys::NFTNL_EXPR_BITWISE_MASK, &self.mask)
            .bytes(sys::NFTNL_EXPR_BITWISE_XOR, &self.xor)
            .finish()
    }
}

/// `[ meta set KEY with reg SREG ]`: write packet metadata (e.g. the mark).
#[derive(Debug, Copy, Clone, Eq, PartialEq, Hash)]
pub struct MetaSet {
    /// What to write.
    pub key: MetaKey,
    /// Source register.
    pub sreg: Reg,
}

impl Expression for MetaSet {
    fn to_expr(&self, _rule: &Rule) -> NonNull<sys::nftnl_expr> {
        ExprBuilder::new(c"meta")
            .u32(sys::NFTNL_EXPR_META_KEY, self.key.raw())
            .u32(sys::NFTNL_EXPR_META_SREG, self.sreg.raw())
            .finish()
    }
}

/// `NF_NAT_RANGE_PROTO_RANDOM_FULLY`.
const NF_NAT_RANGE_PROTO_RANDOM_FULLY: u32 = 1 << 4;

/// `[ masq [flags 0x10] ]`: `masquerade [fully-random]`. `nftnl::expr::Masquerade` has no
/// flags.
#[derive(Debug, Copy, Clone, Eq, PartialEq, Hash)]
pub struct Masq {
    /// `fully-random` source port allocation.
    pub fully_random: bool,
}

impl Expression for Masq {
    fn to_expr(&self, _rule: &Rule) -> NonNull<sys::nftnl_expr> {
        let b = ExprBuilder::new(c"masq");
        if self.fully_random {
            b.u32(sys::NFTNL_EXPR_MASQ_FLAGS, NF_NAT_RANGE_PROTO_RANDOM_FULLY)
                .finish()
        } else {
            b.finish()
        }
    }
}
