//! Named sets and maps, and messages adding or deleting their elements.
//!
//! `nftnl` 0.9.4's `Set` only knows single-field keys (`Ipv4Addr`, `Ipv6Addr`), has no map
//! data at all and borrows its `Table`. [`SetDef`] describes any set or map by name with a
//! [`ConcatType`] key and [`SetData`]; [`SetElems`] carries elements whose keys and data are the
//! byte layouts [`ConcatType::encode`] produces, and verdict data (`goto chain`).
//!
//! Interval sets ([`SetDef::interval`]) take ranges: a single-field key as a start element and
//! an `interval end` element past the range (the kernel's `rbtree`), a concatenation as one
//! element with an inclusive end key (`KEY_END`, the kernel's `pipapo`, which also needs each
//! field's length in the set description). Elements may carry a comment, stored as user data
//! the way `nft` stores `comment "..."`.
//!
//! Both go into an `nftnl::Batch` like `nftnl`'s own objects.

use std::ffi::{CStr, CString, c_char, c_void};
use std::ptr::NonNull;
use std::time::Duration;

use nftnl::{Batch, MsgType, NlMsg, ProtoFamily};
use nftnl_sys as sys;

use super::expr::millis;
use crate::types::{ConcatType, TypeError, Value};

/// What a set maps its keys to.
#[derive(Debug, Clone, Eq, PartialEq, Hash)]
pub enum SetData {
    /// A plain set (no data).
    None,
    /// A verdict map (`type ... : verdict`).
    Verdict,
    /// A data map (`type ... : ipv4_addr . inet_service`).
    Data(ConcatType),
}

/// The definition of a named set or map, added to a batch with `MsgType::Add` (create if
/// missing; an identical existing set is accepted) or `MsgType::Del`.
#[derive(Debug, Clone, Eq, PartialEq, Hash)]
pub struct SetDef {
    table: CString,
    family: ProtoFamily,
    name: CString,
    id: u32,
    key: ConcatType,
    data: SetData,
    dynamic: bool,
    interval: bool,
    timeouts: bool,
    timeout: Option<Duration>,
    size: Option<u32>,
}

impl SetDef {
    /// A set named `name` in `table` (of `family`) with keys of type `key`, mapping to `data`.
    /// `id` identifies the set within one batch (`NFTA_SET_ID`); use distinct ids per batch.
    pub fn new(
        table: &CStr,
        family: ProtoFamily,
        name: &CStr,
        id: u32,
        key: ConcatType,
        data: SetData,
    ) -> Self {
        SetDef {
            table: table.to_owned(),
            family,
            name: name.to_owned(),
            id,
            key,
            data,
            dynamic: false,
            interval: false,
            timeouts: false,
            timeout: None,
            size: None,
        }
    }

    /// Keys are ranges (`flags interval`): elements carry a start key and either an end
    /// element ([`Elem::interval_end`], single-field keys) or an inclusive end key
    /// ([`Elem::key_end`], concatenations, which the kernel stores in a `pipapo` set).
    pub fn interval(mut self) -> Self {
        self.interval = true;
        self
    }

    /// Elements may carry a timeout (`flags timeout`) without a set-wide default.
    pub fn timeouts(mut self) -> Self {
        self.timeouts = true;
        self
    }

    /// Whether keys are ranges.
    pub fn is_interval(&self) -> bool {
        self.interval
    }

    /// Allows the packet path to add and update elements (`flags dynamic`), which [`Dynset`]
    /// requires.
    ///
    /// [`Dynset`]: super::expr::Dynset
    pub fn dynamic(mut self) -> Self {
        self.dynamic = true;
        self
    }

    /// Elements expire (`flags timeout`), by default after `timeout`.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Maximum number of elements (`size N`); dynamic sets need one.
    pub fn size(mut self, size: u32) -> Self {
        self.size = Some(size);
        self
    }

    /// The set's name.
    pub fn name(&self) -> &CStr {
        &self.name
    }

    /// The key type.
    pub fn key(&self) -> &ConcatType {
        &self.key
    }

    /// The data type.
    pub fn data(&self) -> &SetData {
        &self.data
    }

    fn flags(&self) -> u32 {
        let mut flags = 0;
        if self.data != SetData::None {
            flags |= libc::NFT_SET_MAP as u32;
        }
        if self.timeout.is_some() || self.timeouts {
            flags |= libc::NFT_SET_TIMEOUT as u32;
        }
        if self.interval {
            flags |= libc::NFT_SET_INTERVAL as u32;
            if self.key.is_concat() {
                flags |= NFT_SET_CONCAT;
            }
        }
        if self.dynamic {
            flags |= libc::NFT_SET_EVAL as u32;
        }
        flags
    }
}

/// `NFT_SET_CONCAT`: a concatenation of ranges (`pipapo`), described field by field.
const NFT_SET_CONCAT: u32 = 0x80;

/// Element flag `NFT_SET_ELEM_INTERVAL_END`.
const NFT_SET_ELEM_INTERVAL_END: u32 = 0x1;

/// `NFTNL_UDATA_SET_ELEM_COMMENT`: the element-comment TLV type `nft` reads.
const UDATA_SET_ELEM_COMMENT: u8 = 0;

/// Owns a freshly allocated `nftnl_set` naming a set, freed on drop.
struct RawSet(NonNull<sys::nftnl_set>);

impl RawSet {
    fn new(table: &CStr, family: ProtoFamily, name: &CStr) -> Self {
        // SAFETY: plain allocation, checked for NULL below.
        let ptr = unsafe { sys::nftnl_set_alloc() };
        let Some(ptr) = NonNull::new(ptr) else {
            std::process::abort()
        };
        let set = RawSet(ptr);
        set.u32(sys::NFTNL_SET_FAMILY, family as u32);
        set.str(sys::NFTNL_SET_TABLE, table);
        set.str(sys::NFTNL_SET_NAME, name);
        set
    }

    fn u32(&self, attr: u32, value: u32) {
        // SAFETY: live set owned by `self`; attr is a u32 attribute.
        unsafe { sys::nftnl_set_set_u32(self.0.as_ptr(), attr as u16, value) };
    }

    fn u64(&self, attr: u32, value: u64) {
        // SAFETY: live set owned by `self`; attr is a u64 attribute.
        unsafe { sys::nftnl_set_set_u64(self.0.as_ptr(), attr as u16, value) };
    }

    fn str(&self, attr: u32, value: &CStr) {
        // SAFETY: live set owned by `self`; libnftnl strdup()s the string.
        unsafe { sys::nftnl_set_set_str(self.0.as_ptr(), attr as u16, value.as_ptr()) };
    }

    fn bytes(&self, attr: u32, value: &[u8]) {
        // SAFETY: live set owned by `self`; libnftnl copies `value.len()` bytes.
        unsafe {
            sys::nftnl_set_set_data(
                self.0.as_ptr(),
                attr as u16,
                value.as_ptr().cast::<c_void>(),
                value.len() as u32,
            )
        };
    }

    /// Appends an element; the set takes ownership of it.
    fn add_elem(&self, elem: &Elem) {
        // SAFETY: plain allocation, checked for NULL below.
        let Some(e) = NonNull::new(unsafe { sys::nftnl_set_elem_alloc() }) else {
            std::process::abort()
        };
        let e = e.as_ptr();
        // SAFETY: `e` is a live element; libnftnl copies the key bytes.
        unsafe {
            sys::nftnl_set_elem_set(
                e,
                sys::NFTNL_SET_ELEM_KEY as u16,
                elem.key.as_ptr().cast::<c_void>(),
                elem.key.len() as u32,
            )
        };
        if let Some(end) = &elem.key_end {
            // SAFETY: as above; libnftnl copies the key bytes.
            unsafe {
                sys::nftnl_set_elem_set(
                    e,
                    sys::NFTNL_SET_ELEM_KEY_END as u16,
                    end.as_ptr().cast::<c_void>(),
                    end.len() as u32,
                )
            };
        }
        if elem.interval_end {
            // SAFETY: as above; the flags are a u32 attribute.
            unsafe {
                sys::nftnl_set_elem_set_u32(
                    e,
                    sys::NFTNL_SET_ELEM_FLAGS as u16,
                    NFT_SET_ELEM_INTERVAL_END,
                )
            };
        }
        if let Some(comment) = &elem.comment {
            let udata = comment_udata(comment);
            // SAFETY: as above; libnftnl copies the user data bytes.
            unsafe {
                sys::nftnl_set_elem_set(
                    e,
                    sys::NFTNL_SET_ELEM_USERDATA as u16,
                    udata.as_ptr().cast::<c_void>(),
                    udata.len() as u32,
                )
            };
        }
        match &elem.data {
            ElemData::None => {}
            ElemData::Bytes(data) => {
                // SAFETY: as above; libnftnl copies the data bytes.
                unsafe {
                    sys::nftnl_set_elem_set(
                        e,
                        sys::NFTNL_SET_ELEM_DATA as u16,
                        data.as_ptr().cast::<c_void>(),
                        data.len() as u32,
                    )
                };
            }
            ElemData::Verdict(verdict) => {
                let (code, chain) = verdict.raw();
                // SAFETY: as above; the verdict is a u32 attribute.
                unsafe { sys::nftnl_set_elem_set_u32(e, sys::NFTNL_SET_ELEM_VERDICT as u16, code) };
                if let Some(chain) = chain {
                    // SAFETY: as above; libnftnl strdup()s the chain name.
                    unsafe {
                        sys::nftnl_set_elem_set_str(
                            e,
                            sys::NFTNL_SET_ELEM_CHAIN as u16,
                            chain.as_ptr(),
                        )
                    };
                }
            }
        }
        if let Some(timeout) = elem.timeout {
            // SAFETY: as above; the timeout is a u64 attribute.
            unsafe {
                sys::nftnl_set_elem_set_u64(e, sys::NFTNL_SET_ELEM_TIMEOUT as u16, millis(timeout))
            };
        }
        // SAFETY: both live; the set takes ownership of `e` (freed with the set).
        unsafe { sys::nftnl_set_elem_add(self.0.as_ptr(), e) };
    }
}

/// The user data `nft` stores for `comment "..."`: one TLV (type, length, NUL-terminated text),
/// the text cut to fit the one-byte length.
fn comment_udata(comment: &str) -> Vec<u8> {
    let mut text: Vec<u8> = comment.bytes().filter(|&b| b != 0).collect();
    text.truncate(usize::from(u8::MAX) - 1);
    text.push(0);
    let mut out = vec![UDATA_SET_ELEM_COMMENT, text.len() as u8];
    out.extend(text);
    out
}

impl Drop for RawSet {
    fn drop(&mut self) {
        // SAFETY: we own the set; this frees it and any elements added to it.
        unsafe { sys::nftnl_set_free(self.0.as_ptr()) };
    }
}

/// Writes an nfnetlink header for `msg_type` into `buf` and returns it.
///
/// # Safety
///
/// `buf` must point to at least `nftnl::nft_nlmsg_maxsize()` writable bytes (the `NlMsg::write`
/// contract).
unsafe fn build_hdr(
    buf: *mut c_void,
    msg_type: i32,
    family: ProtoFamily,
    flags: i32,
    seq: u32,
) -> *mut libc::nlmsghdr {
    // SAFETY: forwarded from the caller.
    unsafe {
        sys::nftnl_nlmsg_build_hdr(
            buf.cast::<c_char>(),
            msg_type as u16,
            family as u16,
            flags as u16,
            seq,
        )
    }
}

// SAFETY: a set message holds a handful of small attributes (names, types, lengths), far below
// `nft_nlmsg_maxsize()`.
unsafe impl NlMsg for SetDef {
    unsafe fn write(&self, buf: *mut c_void, seq: u32, msg_type: MsgType) {
        let set = RawSet::new(&self.table, self.family, &self.name);
        set.u32(sys::NFTNL_SET_ID, self.id);
        set.u32(sys::NFTNL_SET_FLAGS, self.flags());
        set.u32(sys::NFTNL_SET_KEY_TYPE, self.key.type_id());
        set.u32(sys::NFTNL_SET_KEY_LEN, self.key.byte_len() as u32);
        match &self.data {
            SetData::None => {}
            SetData::Verdict => {
                set.u32(sys::NFTNL_SET_DATA_TYPE, libc::NFT_DATA_VERDICT);
                set.u32(sys::NFTNL_SET_DATA_LEN, 0);
            }
            SetData::Data(data) => {
                set.u32(sys::NFTNL_SET_DATA_TYPE, data.type_id());
                set.u32(sys::NFTNL_SET_DATA_LEN, data.byte_len() as u32);
            }
        }
        if let Some(timeout) = self.timeout {
            set.u64(sys::NFTNL_SET_TIMEOUT, millis(timeout));
        }
        if let Some(size) = self.size {
            set.u32(sys::NFTNL_SET_DESC_SIZE, size);
        }
        if self.interval && self.key.is_concat() {
            // The kernel needs each field's unpadded length to split a concatenated range.
            let lens: Vec<u8> = self
                .key
                .fields()
                .iter()
                .map(|f| f.byte_len() as u8)
                .collect();
            set.bytes(sys::NFTNL_SET_DESC_CONCAT, &lens);
        }
        let (kind, flags) = match msg_type {
            MsgType::Add => (libc::NFT_MSG_NEWSET, libc::NLM_F_CREATE | libc::NLM_F_ACK),
            MsgType::Del => (libc::NFT_MSG_DELSET, libc::NLM_F_ACK),
        };
        // SAFETY: `buf` is large enough per this trait's contract; `set` is live.
        unsafe {
            let hdr = build_hdr(buf, kind, self.family, flags, seq);
            sys::nftnl_set_nlmsg_build_payload(hdr, set.0.as_ptr());
        }
    }
}

/// The verdict of a verdict-map element.
#[derive(Debug, Clone, Eq, PartialEq, Hash)]
pub enum ElemVerdict {
    /// `accept`.
    Accept,
    /// `drop`.
    Drop,
    /// `return`.
    Return,
    /// `jump CHAIN`.
    Jump(CString),
    /// `goto CHAIN`.
    Goto(CString),
}

impl ElemVerdict {
    fn raw(&self) -> (u32, Option<&CStr>) {
        match self {
            ElemVerdict::Accept => (libc::NF_ACCEPT as u32, None),
            ElemVerdict::Drop => (libc::NF_DROP as u32, None),
            ElemVerdict::Return => (libc::NFT_RETURN as u32, None),
            ElemVerdict::Jump(chain) => (libc::NFT_JUMP as u32, Some(chain)),
            ElemVerdict::Goto(chain) => (libc::NFT_GOTO as u32, Some(chain)),
        }
    }
}

/// The data of one element.
#[derive(Debug, Clone, Eq, PartialEq, Hash)]
pub enum ElemData {
    /// None (plain set).
    None,
    /// A verdict (verdict map).
    Verdict(ElemVerdict),
    /// Encoded data (data map), as produced by [`ConcatType::encode`].
    Bytes(Vec<u8>),
}

/// One element: encoded key, data, optional timeout, and for interval sets its range end.
#[derive(Debug, Clone, Eq, PartialEq, Hash)]
pub struct Elem {
    /// The key, in the set's key layout (for interval sets: the start of the range).
    pub key: Vec<u8>,
    /// The inclusive end of the range, for concatenated interval sets.
    pub key_end: Option<Vec<u8>>,
    /// This element ends the range that the previous start element opened (single-field
    /// interval sets: the key is the first value past the range).
    pub interval_end: bool,
    /// The data.
    pub data: ElemData,
    /// Expiry, for sets with timeouts.
    pub timeout: Option<Duration>,
    /// A comment, stored as element user data the way `nft` does.
    pub comment: Option<String>,
}

impl Elem {
    /// An element with this key and data, no range end, timeout or comment.
    pub fn new(key: Vec<u8>, data: ElemData) -> Self {
        Elem {
            key,
            key_end: None,
            interval_end: false,
            data,
            timeout: None,
            comment: None,
        }
    }
}

/// What to do with a [`SetElems`] list.
#[derive(Debug, Copy, Clone, Eq, PartialEq, Hash)]
pub enum ElemOp {
    /// Add; an existing element with the same data is accepted, with different data it is
    /// `EEXIST` (to replace, delete then add in one batch).
    Add,
    /// Add; any existing element is `EEXIST`.
    Create,
    /// Delete; a missing element is `ENOENT`.
    Delete,
}

/// Elements of one named set or map, to add or delete in a batch.
#[derive(Debug, Clone, Eq, PartialEq, Hash)]
pub struct SetElems {
    table: CString,
    family: ProtoFamily,
    set: CString,
    key: ConcatType,
    data: SetData,
    elems: Vec<Elem>,
}

impl SetElems {
    /// An empty element list for `set`, checking keys and data against its definition.
    pub fn for_set(set: &SetDef) -> Self {
        SetElems {
            table: set.table.clone(),
            family: set.family,
            set: set.name.clone(),
            key: set.key.clone(),
            data: set.data.clone(),
            elems: Vec::new(),
        }
    }

    /// Adds a plain set element.
    pub fn push_key(&mut self, key: &[Value]) -> Result<(), TypeError> {
        self.push(key, ElemData::None, None)
    }

    /// Adds a verdict-map element.
    pub fn push_verdict(&mut self, key: &[Value], verdict: ElemVerdict) -> Result<(), TypeError> {
        self.push(key, ElemData::Verdict(verdict), None)
    }

    /// Adds a data-map element.
    pub fn push_data(&mut self, key: &[Value], data: &[Value]) -> Result<(), TypeError> {
        let SetData::Data(t) = &self.data else {
            return Err(TypeError::Data);
        };
        let bytes = t.encode(data)?;
        self.push(key, ElemData::Bytes(bytes), None)
    }

    /// Adds an element with explicit data and timeout.
    pub fn push(
        &mut self,
        key: &[Value],
        data: ElemData,
        timeout: Option<Duration>,
    ) -> Result<(), TypeError> {
        let fits = match (&self.data, &data) {
            (SetData::None, ElemData::None) | (SetData::Verdict, ElemData::Verdict(_)) => true,
            (SetData::Data(t), ElemData::Bytes(b)) => b.len() == t.byte_len(),
            _ => false,
        };
        if !fits {
            return Err(TypeError::Data);
        }
        let key = self.key.encode(key)?;
        self.elems.push(Elem {
            timeout,
            ..Elem::new(key, data)
        });
        Ok(())
    }

    /// Adds an element built by the caller (range ends, comments), checking that its key, end
    /// key and data have the lengths this set's types give. Elements without data are
    /// accepted in maps too: deletes and range ends carry none.
    pub fn push_elem(&mut self, elem: Elem) -> Result<(), TypeError> {
        let len = self.key.byte_len();
        let key_ok = elem.key.len() == len && elem.key_end.as_ref().is_none_or(|e| e.len() == len);
        let data_ok = match (&self.data, &elem.data) {
            (SetData::None, ElemData::None) | (SetData::Verdict, ElemData::Verdict(_)) => true,
            (SetData::Data(t), ElemData::Bytes(b)) => b.len() == t.byte_len(),
            // Deletes and range ends carry no data, even in maps.
            (_, ElemData::None) => true,
            _ => false,
        };
        if !key_ok {
            return Err(TypeError::KeyLength {
                expected: len,
                got: elem.key.len(),
            });
        }
        if !data_ok {
            return Err(TypeError::Data);
        }
        self.elems.push(elem);
        Ok(())
    }

    /// The elements so far.
    pub fn elems(&self) -> &[Elem] {
        &self.elems
    }

    /// Whether there are no elements.
    pub fn is_empty(&self) -> bool {
        self.elems.is_empty()
    }

    /// Appends the element messages to `batch`: as many messages as needed, each up to the
    /// netlink attribute limit of 64 KiB (libnftnl splits the list). Nothing for no elements.
    /// Returns the number of messages added.
    pub fn add_to_batch(&self, batch: &mut Batch, op: ElemOp) -> usize {
        if self.elems.is_empty() {
            return 0;
        }
        let set = RawSet::new(&self.table, self.family, &self.set);
        for elem in &self.elems {
            set.add_elem(elem);
        }
        let iter = ElemsIter::new(&set);
        let (kind, flags, msg_type) = match op {
            ElemOp::Add => (
                libc::NFT_MSG_NEWSETELEM,
                libc::NLM_F_CREATE | libc::NLM_F_ACK,
                MsgType::Add,
            ),
            ElemOp::Create => (
                libc::NFT_MSG_NEWSETELEM,
                libc::NLM_F_CREATE | libc::NLM_F_EXCL | libc::NLM_F_ACK,
                MsgType::Add,
            ),
            ElemOp::Delete => (libc::NFT_MSG_DELSETELEM, libc::NLM_F_ACK, MsgType::Del),
        };
        let msg = ElemsMsg {
            iter: &iter,
            family: self.family,
            kind,
            flags,
            more: std::cell::Cell::new(false),
        };
        let mut messages = 0;
        loop {
            batch.add(&msg, msg_type);
            messages += 1;
            if !msg.more.get() {
                break;
            }
        }
        messages
    }
}

/// Owns an `nftnl_set_elems_iter` over a [`RawSet`].
struct ElemsIter<'a> {
    iter: NonNull<sys::nftnl_set_elems_iter>,
    _set: &'a RawSet,
}

impl<'a> ElemsIter<'a> {
    fn new(set: &'a RawSet) -> Self {
        // SAFETY: the set is live for 'a, which outlives the iterator.
        let ptr = unsafe { sys::nftnl_set_elems_iter_create(set.0.as_ptr()) };
        let Some(iter) = NonNull::new(ptr) else {
            std::process::abort()
        };
        ElemsIter { iter, _set: set }
    }
}

impl Drop for ElemsIter<'_> {
    fn drop(&mut self) {
        // SAFETY: we own the iterator; the set it points into is still alive ('a).
        unsafe { sys::nftnl_set_elems_iter_destroy(self.iter.as_ptr()) };
    }
}

/// One NEWSETELEM/DELSETELEM message: the next run of elements that fits.
struct ElemsMsg<'a, 'b> {
    iter: &'b ElemsIter<'a>,
    family: ProtoFamily,
    kind: i32,
    flags: i32,
    /// Set after writing when elements remain for another message.
    more: std::cell::Cell<bool>,
}

// SAFETY: libnftnl stops adding elements before the element nest would exceed the 16-bit
// netlink attribute length, so a message stays within `nft_nlmsg_maxsize()`.
unsafe impl NlMsg for ElemsMsg<'_, '_> {
    unsafe fn write(&self, buf: *mut c_void, seq: u32, _msg_type: MsgType) {
        // SAFETY: `buf` is large enough per this trait's contract; the iterator and its set
        // are live; libnftnl returns 1 when it stopped early with elements left.
        let ret = unsafe {
            let hdr = build_hdr(buf, self.kind, self.family, self.flags, seq);
            sys::nftnl_set_elems_nlmsg_build_payload_iter(hdr, self.iter.iter.as_ptr())
        };
        self.more.set(ret > 0);
    }
}

/// Deletes every element of a set or map (`flush set`), keeping the set.
#[derive(Debug, Clone, Eq, PartialEq, Hash)]
pub struct FlushSet {
    table: CString,
    family: ProtoFamily,
    set: CString,
}

impl FlushSet {
    /// Flush `set`.
    pub fn new(set: &SetDef) -> Self {
        FlushSet {
            table: set.table.clone(),
            family: set.family,
            set: set.name.clone(),
        }
    }
}

// SAFETY: a flush message has only the table and set names.
unsafe impl NlMsg for FlushSet {
    unsafe fn write(&self, buf: *mut c_void, seq: u32, _msg_type: MsgType) {
        let set = RawSet::new(&self.table, self.family, &self.set);
        // SAFETY: `buf` is large enough per this trait's contract; `set` is live and has no
        // elements, which makes DELSETELEM a flush.
        unsafe {
            let hdr = build_hdr(
                buf,
                libc::NFT_MSG_DELSETELEM,
                self.family,
                libc::NLM_F_ACK,
                seq,
            );
            sys::nftnl_set_elems_nlmsg_build_payload(hdr, set.0.as_ptr());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::DataType;
    use std::net::Ipv4Addr;

    fn map(data: SetData) -> SetDef {
        let key = ConcatType::new(&[DataType::Ipv4Addr, DataType::InetService]);
        SetDef::new(c"t", ProtoFamily::Ipv4, c"m", 1, key, data)
    }

    fn key(i: u32) -> [Value; 2] {
        [Value::Ipv4(Ipv4Addr::from(i)), Value::Port(80)]
    }

    #[test]
    fn elements_must_fit_the_set() {
        let mut vmap = SetElems::for_set(&map(SetData::Verdict));
        assert_eq!(vmap.push_verdict(&key(1), ElemVerdict::Accept), Ok(()));
        assert_eq!(
            vmap.push_data(&key(2), &[Value::Port(1)]),
            Err(TypeError::Data)
        );
        assert_eq!(vmap.push_key(&key(3)), Err(TypeError::Data));
        assert!(
            vmap.push_verdict(&[Value::Port(80)], ElemVerdict::Drop)
                .is_err()
        );

        let data = ConcatType::new(&[DataType::Ipv4Addr, DataType::InetService]);
        let mut dmap = SetElems::for_set(&map(SetData::Data(data)));
        let ep = [Value::Ipv4(Ipv4Addr::LOCALHOST), Value::Port(8080)];
        assert_eq!(dmap.push_data(&key(1), &ep), Ok(()));
        assert_eq!(
            dmap.elems()[0].data,
            ElemData::Bytes(vec![127, 0, 0, 1, 0x1f, 0x90, 0, 0])
        );
        assert_eq!(
            dmap.push(&key(2), ElemData::Bytes(vec![1, 2, 3]), None),
            Err(TypeError::Data)
        );
        assert_eq!(
            dmap.push_verdict(&key(3), ElemVerdict::Accept),
            Err(TypeError::Data)
        );
    }

    #[test]
    fn long_element_lists_split_into_messages() {
        let mut elems = SetElems::for_set(&map(SetData::Verdict));
        for i in 0..5_000 {
            elems
                .push_verdict(&key(i), ElemVerdict::Goto(c"some-chain".to_owned()))
                .expect("fits");
        }
        let mut batch = Batch::new();
        elems.add_to_batch(&mut batch, ElemOp::Add);
        let messages = batch.finalize().sequence_numbers().len();
        // ~60 bytes per element: 5000 elements need several 64 KiB messages (plus the batch
        // begin/end markers on kernels that ack them).
        assert!((5..=10).contains(&messages), "{messages} messages");

        let mut batch = Batch::new();
        SetElems::for_set(&map(SetData::Verdict)).add_to_batch(&mut batch, ElemOp::Delete);
        assert!(
            batch.finalize().sequence_numbers().len() <= 2,
            "no message for no elements"
        );
    }
}
