//! Laying out a finalized batch's pages as the iovecs of ONE `sendmsg`.
//!
//! `nftnl` hands a batch out as pages of at most 128 KiB; a page rarely holds more than one
//! full element message (libnftnl fills them up to 64 KiB), so a large sync is about one page
//! per 64 KiB: 60k services x 20 endpoints is ~80 MB in ~1,350 pages. The kernel refuses a
//! `sendmsg` of more than [`UIO_MAXIOV`] iovecs with `EMSGSIZE`, and the batch must not be
//! split over several `sendmsg` calls (see [`crate::netlink`]). So the first `max - 1` pages
//! are sent in place and, only when there are more, all the remaining ones are copied into one
//! buffer that becomes the last iovec: batches of up to `max` pages cost no copy, larger ones
//! copy only what is past the limit.
//!
//! Measured against copying the whole batch into one buffer (one iovec) with `cargo bench -p
//! benches --bench large_batch` (release build, 2 vCPUs), on a full sync of 60,000 services x
//! 20 endpoints (81.9 MB, 1,247 pages): this layout copies 14.7 MB (the heap peaks 14.8 MB
//! above the batch during the send) and spends 2 ms before the `sendmsg`; one buffer copies
//! 81.9 MB (heap +82.0 MB) in 42 ms. The kernel's own work, ~7 to 8 s for either, dwarfs both
//! times, so the choice is about memory: the copy is what exceeds the limit, not the batch.

/// The kernel's limit on iovecs per `sendmsg` (`UIO_MAXIOV`).
pub const UIO_MAXIOV: usize = 1024;

/// A batch's pages as at most `max` iovecs: pages in place, then the rest in one buffer.
#[derive(Debug)]
pub(crate) struct Gathered<'a> {
    in_place: &'a [&'a [u8]],
    tail: Vec<u8>,
}

impl<'a> Gathered<'a> {
    /// Lays out `pages` in at most `max` iovecs (`max` is taken as at least 1).
    pub(crate) fn new(pages: &'a [&'a [u8]], max: usize) -> Self {
        let max = max.max(1);
        if pages.len() <= max {
            return Gathered {
                in_place: pages,
                tail: Vec::new(),
            };
        }
        let (in_place, rest) = pages.split_at(max - 1);
        let mut tail = Vec::with_capacity(rest.iter().map(|p| p.len()).sum());
        for page in rest {
            tail.extend_from_slice(page);
        }
        Gathered { in_place, tail }
    }

    /// The buffers to send, in order.
    pub(crate) fn iovecs(&self) -> Vec<&[u8]> {
        let mut out: Vec<&[u8]> = self.in_place.to_vec();
        if !self.tail.is_empty() {
            out.push(&self.tail);
        }
        out
    }

    /// Bytes copied (0 when every page is sent in place).
    pub(crate) fn copied(&self) -> usize {
        self.tail.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `n` fake pages of different lengths, each filled with its own index.
    fn pages(n: usize) -> Vec<Vec<u8>> {
        (0..n)
            .map(|i| vec![(i % 251) as u8; 1 + i % 7 * 100])
            .collect()
    }

    fn concat(bufs: &[&[u8]]) -> Vec<u8> {
        bufs.iter().flat_map(|b| b.iter().copied()).collect()
    }

    #[test]
    fn more_pages_than_the_kernel_takes_fit_in_uio_maxiov_in_order() {
        let owned = pages(1_500);
        let refs: Vec<&[u8]> = owned.iter().map(Vec::as_slice).collect();
        let g = Gathered::new(&refs, UIO_MAXIOV);
        let iov = g.iovecs();
        assert_eq!(iov.len(), UIO_MAXIOV);
        assert_eq!(concat(&iov), concat(&refs), "same bytes, same order");
        // The first 1,023 pages are the batch's own buffers, not copies.
        for (sent, page) in iov.iter().zip(&refs).take(UIO_MAXIOV - 1) {
            assert!(std::ptr::eq(sent.as_ptr(), page.as_ptr()));
        }
        let rest: usize = refs[UIO_MAXIOV - 1..].iter().map(|p| p.len()).sum();
        assert_eq!(g.copied(), rest);
    }

    #[test]
    fn up_to_the_limit_nothing_is_copied() {
        for n in [0, 1, 2, UIO_MAXIOV - 1, UIO_MAXIOV] {
            let owned = pages(n);
            let refs: Vec<&[u8]> = owned.iter().map(Vec::as_slice).collect();
            let g = Gathered::new(&refs, UIO_MAXIOV);
            assert_eq!(g.iovecs().len(), n);
            assert_eq!(g.copied(), 0);
        }
        let owned = pages(UIO_MAXIOV + 1);
        let refs: Vec<&[u8]> = owned.iter().map(Vec::as_slice).collect();
        let g = Gathered::new(&refs, UIO_MAXIOV);
        assert_eq!(g.iovecs().len(), UIO_MAXIOV);
        assert_eq!(
            g.copied(),
            refs[UIO_MAXIOV - 1].len() + refs[UIO_MAXIOV].len()
        );
    }

    #[test]
    fn one_iovec_is_the_whole_batch_copied() {
        let owned = pages(5);
        let refs: Vec<&[u8]> = owned.iter().map(Vec::as_slice).collect();
        for max in [0, 1] {
            let g = Gathered::new(&refs, max);
            let iov = g.iovecs();
            assert_eq!(iov.len(), 1);
            assert_eq!(iov[0], concat(&refs).as_slice());
        }
        let one = [refs[0]];
        let g = Gathered::new(&one, 1);
        assert_eq!(
            (g.iovecs().len(), g.copied()),
            (1, 0),
            "a single page is not copied"
        );
    }
}
