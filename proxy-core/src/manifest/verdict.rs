//! Whether a read may be applied: a source hands the whole cluster over, so a read that lost
//! objects would delete their services. The rules, in order:
//!
//! 1. A text that cannot be trusted as a whole ([`Manifest::unreadable`]) is refused.
//! 2. A text with no object and no error (an empty file, only comments, an empty `List`) is
//!    refused unless emptiness was asked for: "delete every service" is never what a
//!    half-written file means.
//! 3. Errors and no usable object at all: refused.
//! 4. Objects of one of our kinds skipped as invalid, and none of that kind left: refused
//!    (every Service failing to deserialize is a broken text, not a cluster without Services).
//!
//! Anything else is applied, with a warning per skipped object or document.

use std::fmt;

use super::Manifest;
use crate::error::{Error, ObjectKind};

/// Why a read must not be applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Unusable {
    /// The text as a whole cannot be trusted.
    Unreadable(String),
    /// The text holds no object at all.
    Empty,
    /// Every object was skipped.
    NothingUsable {
        /// How many objects or documents were skipped.
        errors: usize,
        /// The first error.
        first: String,
    },
    /// Every object of one kind was skipped.
    KindLost {
        /// The kind.
        kind: ObjectKind,
        /// How many were skipped.
        skipped: usize,
    },
}

impl fmt::Display for Unusable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unusable::Unreadable(reason) => f.write_str(reason),
            Unusable::Empty => f.write_str(
                "it holds no Service, EndpointSlice or Node: applying it would remove every service",
            ),
            Unusable::NothingUsable { errors, first } => write!(
                f,
                "none of its objects is usable ({errors} skipped; the first: {first})"
            ),
            Unusable::KindLost { kind, skipped } => write!(
                f,
                "every {kind} of it is invalid ({skipped} skipped): applying it would remove \
                 every service they describe"
            ),
        }
    }
}

impl Manifest {
    /// Says whether this read may be applied as the whole cluster (see the [rules](self)).
    /// `allow_empty` accepts a text without objects.
    pub fn check(&self, allow_empty: bool) -> Result<(), Unusable> {
        if let Some(reason) = &self.unreadable {
            return Err(Unusable::Unreadable(reason.clone()));
        }
        if self.objects.is_empty() {
            return match self.errors.first() {
                None if allow_empty => Ok(()),
                None => Err(Unusable::Empty),
                Some(first) => Err(Unusable::NothingUsable {
                    errors: self.errors.len(),
                    first: first.to_string(),
                }),
            };
        }
        for (&kind, &skipped) in &self.skipped {
            if !self.objects.iter().any(|o| o.reference().kind == kind) {
                return Err(Unusable::KindLost { kind, skipped });
            }
        }
        Ok(())
    }

    /// [`Manifest::check`] as a crate error.
    pub fn checked(self, allow_empty: bool) -> Result<Manifest, Error> {
        match self.check(allow_empty) {
            Ok(()) => Ok(self),
            Err(why) => Err(Error::Unusable(why)),
        }
    }
}
