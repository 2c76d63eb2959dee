//! nftables data types, registers and the byte layout of (concatenated) set keys and map data.
//!
//! The kernel knows nothing about types: a set has a key length and a data length in bytes and
//! an opaque type number that only `nft` interprets when it prints the set. A concatenated key
//! is a run of fields, each padded to a 32-bit register word, loaded into adjacent registers
//! (`ip daddr . th dport` = 4 bytes in word 0, 2 bytes + 2 zero bytes in word 1). This module
//! keeps that layout in one place so that rules (which load registers) and elements (which
//! carry bytes) always agree.

use std::net::{Ipv4Addr, Ipv6Addr};

/// Bits per field in `nft`'s encoding of a concatenated type number (`TYPE_BITS` in nftables).
const CONCAT_TYPE_BITS: u32 = 6;

/// Size of one 32-bit register word.
const WORD: usize = 4;

/// Number of 32-bit data registers the kernel has (`NFT_REG32_00` ..= `NFT_REG32_15`).
const DATA_WORDS: u32 = 16;

/// An `nft` data type that can be a field of a set key or of map data.
#[derive(Debug, Copy, Clone, Eq, PartialEq, Hash)]
pub enum DataType {
    /// `ipv4_addr`: 4 bytes, network order.
    Ipv4Addr,
    /// `ipv6_addr`: 16 bytes, network order.
    Ipv6Addr,
    /// `inet_proto`: 1 byte (IPPROTO_*).
    InetProto,
    /// `inet_service`: a 2-byte port, network order.
    InetService,
    /// `mark`: a 4-byte host-order integer; used for `numgen` slots since `nft` has no sized
    /// plain integer type for `type` declarations.
    Mark,
}

impl DataType {
    /// The type number `nft` uses for this type (`enum datatypes` in nftables).
    pub const fn type_id(self) -> u32 {
        match self {
            DataType::Ipv4Addr => 7,
            DataType::Ipv6Addr => 8,
            DataType::InetProto => 12,
            DataType::InetService => 13,
            DataType::Mark => 19,
        }
    }

    /// Length of the value in bytes, before register padding.
    pub const fn byte_len(self) -> usize {
        match self {
            DataType::Ipv4Addr | DataType::Mark => 4,
            DataType::Ipv6Addr => 16,
            DataType::InetProto => 1,
            DataType::InetService => 2,
        }
    }

    /// Length rounded up to whole register words, as laid out inside a concatenation.
    pub const fn padded_len(self) -> usize {
        self.byte_len().div_ceil(WORD) * WORD
    }
}

/// A value of one [`DataType`], used to build element keys and map data.
#[derive(Debug, Copy, Clone, Eq, PartialEq, Hash)]
pub enum Value {
    /// An `ipv4_addr`.
    Ipv4(Ipv4Addr),
    /// An `ipv6_addr`.
    Ipv6(Ipv6Addr),
    /// An `inet_proto` (e.g. 6 for TCP).
    Proto(u8),
    /// An `inet_service` (port).
    Port(u16),
    /// A `mark` (host order); the `numgen` slot in endpoint keys.
    Mark(u32),
}

impl Value {
    /// The data type of this value.
    pub const fn data_type(&self) -> DataType {
        match self {
            Value::Ipv4(_) => DataType::Ipv4Addr,
            Value::Ipv6(_) => DataType::Ipv6Addr,
            Value::Proto(_) => DataType::InetProto,
            Value::Port(_) => DataType::InetService,
            Value::Mark(_) => DataType::Mark,
        }
    }

    fn put(&self, out: &mut Vec<u8>) {
        match self {
            Value::Ipv4(a) => out.extend_from_slice(&a.octets()),
            Value::Ipv6(a) => out.extend_from_slice(&a.octets()),
            Value::Proto(p) => out.push(*p),
            Value::Port(p) => out.extend_from_slice(&p.to_be_bytes()),
            Value::Mark(m) => out.extend_from_slice(&m.to_ne_bytes()),
        }
    }
}

/// Error building a key or data blob that does not match its declared type.
#[derive(Debug, Clone, Eq, PartialEq, thiserror::Error)]
pub enum TypeError {
    /// Wrong number of fields.
    #[error("expected {expected} fields, got {got}")]
    Arity {
        /// Fields the type declares.
        expected: usize,
        /// Fields given.
        got: usize,
    },
    /// Element data that does not fit the set: data for a plain set, a verdict for a data
    /// map, bytes of the wrong length, ...
    #[error("element data does not match the set's data type")]
    Data,
    /// An encoded key (or range end) of the wrong length for the set.
    #[error("key of {got} bytes, the set's key type has {expected}")]
    KeyLength {
        /// Bytes the key type has.
        expected: usize,
        /// Bytes given.
        got: usize,
    },
    /// A field of the wrong type.
    #[error("field {index}: expected {expected:?}, got {got:?}")]
    Field {
        /// Position in the concatenation.
        index: usize,
        /// Declared type.
        expected: DataType,
        /// Given type.
        got: DataType,
    },
}

/// A (possibly concatenated) type: the key type of a set or the data type of a map.
#[derive(Debug, Clone, Eq, PartialEq, Hash)]
pub struct ConcatType {
    fields: Vec<DataType>,
}

impl ConcatType {
    /// A type made of these fields in order; one field means a plain (not concatenated) type.
    pub fn new(fields: &[DataType]) -> Self {
        ConcatType {
            fields: fields.to_vec(),
        }
    }

    /// The fields in order.
    pub fn fields(&self) -> &[DataType] {
        &self.fields
    }

    /// Whether this is a concatenation of more than one field.
    pub fn is_concat(&self) -> bool {
        self.fields.len() > 1
    }

    /// The type number `nft` expects in `NFTA_SET_KEY_TYPE` / `NFTA_SET_DATA_TYPE`.
    pub fn type_id(&self) -> u32 {
        self.fields
            .iter()
            .fold(0, |acc, f| (acc << CONCAT_TYPE_BITS) | f.type_id())
    }

    /// Length in bytes as the kernel sees it: the plain length for one field, the sum of
    /// register-padded lengths for a concatenation.
    pub fn byte_len(&self) -> usize {
        match self.fields.as_slice() {
            [single] => single.byte_len(),
            fields => fields.iter().map(|f| f.padded_len()).sum(),
        }
    }

    /// The register each field must be loaded into when the key starts at `base`.
    pub fn registers(&self, base: Reg) -> Vec<Reg> {
        let mut word = base.word_index().unwrap_or(0);
        self.fields
            .iter()
            .map(|f| {
                let reg = Reg::word(word);
                word += f.padded_len().div_ceil(WORD) as u32;
                reg
            })
            .collect()
    }

    /// Encodes values into the byte layout of this type (the element key or data).
    pub fn encode(&self, values: &[Value]) -> Result<Vec<u8>, TypeError> {
        if values.len() != self.fields.len() {
            return Err(TypeError::Arity {
                expected: self.fields.len(),
                got: values.len(),
            });
        }
        let mut out = Vec::with_capacity(self.byte_len());
        for (index, (field, value)) in self.fields.iter().zip(values).enumerate() {
            if value.data_type() != *field {
                return Err(TypeError::Field {
                    index,
                    expected: *field,
                    got: value.data_type(),
                });
            }
            value.put(&mut out);
            if self.is_concat() {
                out.resize(out.len().next_multiple_of(WORD), 0);
            }
        }
        Ok(out)
    }
}

/// An nftables register as sent in netlink attributes.
///
/// Data registers are addressed in 32-bit words 0..16. Word 0 is sent as `NFT_REG_1` (the
/// 16-byte alias `nft` itself uses for it), other words as `NFT_REG32_00 + word`; the kernel
/// maps both encodings to the same storage.
#[derive(Debug, Copy, Clone, Eq, PartialEq, Hash)]
pub struct Reg(u32);

impl Reg {
    /// The verdict register (`NFT_REG_VERDICT`): a lookup into it makes a `vmap`.
    pub const VERDICT: Reg = Reg(libc::NFT_REG_VERDICT as u32);
    /// The first data register (`NFT_REG_1`, word 0).
    pub const R1: Reg = Reg(libc::NFT_REG_1 as u32);

    /// The data register holding 32-bit word `word` (0..16); panics on an out-of-range word
    /// since register allocation is fixed at compile time by the rule shapes.
    pub const fn word(word: u32) -> Reg {
        assert!(word < DATA_WORDS, "nftables has 16 32-bit data registers");
        if word == 0 {
            Reg::R1
        } else {
            Reg(libc::NFT_REG32_00 as u32 + word)
        }
    }

    /// The 32-bit word this register starts at, or `None` for the verdict register.
    pub const fn word_index(self) -> Option<u32> {
        let raw = self.0;
        if raw == libc::NFT_REG_VERDICT as u32 {
            None
        } else if raw <= libc::NFT_REG_4 as u32 {
            Some((raw - 1) * 4)
        } else {
            Some(raw - libc::NFT_REG32_00 as u32)
        }
    }

    /// The raw value for the netlink attribute.
    pub const fn raw(self) -> u32 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concat_type_id_matches_nft() {
        // Values read from `nft --debug=mnl` for the same declarations.
        let svc = ConcatType::new(&[
            DataType::Ipv4Addr,
            DataType::InetProto,
            DataType::InetService,
        ]);
        assert_eq!(svc.type_id(), 0x730d);
        assert_eq!(svc.byte_len(), 12);
        let ep = ConcatType::new(&[DataType::Ipv4Addr, DataType::InetService, DataType::Mark]);
        assert_eq!(ep.type_id(), 0x7353);
        let data = ConcatType::new(&[DataType::Ipv4Addr, DataType::InetService]);
        assert_eq!(data.type_id(), 0x1cd);
        assert_eq!(data.byte_len(), 8);
        assert_eq!(ConcatType::new(&[DataType::InetService]).byte_len(), 2);
    }

    #[test]
    fn registers_follow_padding() {
        let t = ConcatType::new(&[
            DataType::Ipv4Addr,
            DataType::InetProto,
            DataType::InetService,
            DataType::Mark,
        ]);
        let raw: Vec<u32> = t.registers(Reg::R1).iter().map(|r| r.raw()).collect();
        assert_eq!(raw, vec![1, 9, 10, 11]);
        let v6 = ConcatType::new(&[DataType::Ipv6Addr, DataType::InetService]);
        let raw: Vec<u32> = v6.registers(Reg::word(4)).iter().map(|r| r.raw()).collect();
        assert_eq!(raw, vec![12, 16]);
        assert_eq!(Reg::R1.word_index(), Some(0));
        assert_eq!(Reg::word(5).word_index(), Some(5));
        assert_eq!(Reg::VERDICT.word_index(), None);
    }

    #[test]
    fn encode_pads_concatenations_only() {
        let t = ConcatType::new(&[
            DataType::Ipv4Addr,
            DataType::InetProto,
            DataType::InetService,
        ]);
        let bytes = t
            .encode(&[
                Value::Ipv4(Ipv4Addr::new(10, 0, 0, 1)),
                Value::Proto(6),
                Value::Port(80),
            ])
            .expect("valid");
        assert_eq!(bytes, vec![10, 0, 0, 1, 6, 0, 0, 0, 0, 80, 0, 0]);
        let port = ConcatType::new(&[DataType::InetService]);
        assert_eq!(port.encode(&[Value::Port(443)]), Ok(vec![1, 187]));
        assert_eq!(
            port.encode(&[Value::Proto(6)]),
            Err(TypeError::Field {
                index: 0,
                expected: DataType::InetService,
                got: DataType::InetProto
            })
        );
        assert!(matches!(t.encode(&[]), Err(TypeError::Arity { .. })));
    }
}
