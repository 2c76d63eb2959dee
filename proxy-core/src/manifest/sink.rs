//! Where the objects and errors of one text collect, in reading order, with a way to take back
//! what a value that later failed to read had added.

use std::collections::BTreeMap;

use serde_json::Value;

use super::object::{self, Skipped};
use crate::error::{Error, ObjectKind};
use crate::object::KubeObject;

/// The objects and errors of a text read so far.
#[derive(Default)]
pub(super) struct Sink {
    /// The objects read, each with its index (list items read late may come out of order).
    pub objects: Vec<(usize, KubeObject)>,
    /// The errors so far.
    pub errors: Vec<Error>,
    /// The index of the next object.
    pub next_index: usize,
    /// How many objects of each of our kinds were skipped as invalid.
    pub skipped: Vec<ObjectKind>,
}

/// A point of a [`Sink`] to go back to.
#[derive(Clone, Copy)]
pub(super) struct Mark {
    objects: usize,
    errors: usize,
    next_index: usize,
    skipped: usize,
}

impl Sink {
    /// The current point.
    pub fn mark(&self) -> Mark {
        Mark {
            objects: self.objects.len(),
            errors: self.errors.len(),
            next_index: self.next_index,
            skipped: self.skipped.len(),
        }
    }

    /// Forgets everything added since `mark`.
    pub fn rollback(&mut self, mark: Mark) {
        self.objects.truncate(mark.objects);
        self.errors.truncate(mark.errors);
        self.skipped.truncate(mark.skipped);
        self.next_index = mark.next_index;
    }

    /// Takes a new index for an object read later (see [`Sink::read_object_at`]).
    pub fn reserve_index(&mut self) -> usize {
        self.next_index += 1;
        self.next_index - 1
    }

    /// Reads one object of the text, keeping it if it is of a kind svcproxy watches.
    pub fn read_object(&mut self, value: Value) {
        let index = self.reserve_index();
        self.read_object_at(index, value);
    }

    /// Reads one object whose index was reserved before.
    pub fn read_object_at(&mut self, index: usize, value: Value) {
        match object::object(value) {
            Ok(object) => self.objects.push((index, object)),
            Err(Skipped { kind, reason }) => {
                self.skipped.extend(kind);
                self.errors.push(Error::Manifest { index, reason });
            }
        }
    }

    /// Records an error about the object at the current index, and moves past it.
    pub fn fail_here(&mut self, reason: String) {
        let index = self.reserve_index();
        self.errors.push(Error::Manifest { index, reason });
    }

    /// The objects in index order, and the count of skipped objects per kind.
    pub fn finish(mut self) -> (Vec<KubeObject>, Vec<Error>, BTreeMap<ObjectKind, usize>) {
        self.objects.sort_by_key(|(index, _)| *index);
        let mut skipped = BTreeMap::new();
        for kind in self.skipped {
            *skipped.entry(kind).or_default() += 1;
        }
        let objects = self.objects.into_iter().map(|(_, o)| o).collect();
        (objects, self.errors, skipped)
    }
}

impl Sink {
    /// Appends what another sink read (a later part of the same text, indexed from 0).
    pub fn absorb(&mut self, part: Sink) {
        let offset = self.next_index;
        self.objects.extend(
            part.objects
                .into_iter()
                .map(|(index, object)| (index + offset, object)),
        );
        self.errors
            .extend(part.errors.into_iter().map(|error| match error {
                Error::Manifest { index, reason } => Error::Manifest {
                    index: index + offset,
                    reason,
                },
                other => other,
            }));
        self.skipped.extend(part.skipped);
        self.next_index += part.next_index;
    }
}
