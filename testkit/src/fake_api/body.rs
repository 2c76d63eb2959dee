//! [`ApiBody`]: a response body, either whole or streamed from a watch task.

use std::pin::Pin;
use std::task::{Context, Poll};

use hyper::body::{Body, Bytes, Frame, SizeHint};
use tokio::sync::mpsc;

use crate::error::Error;

/// A response body: a complete JSON document, or a watch stream fed through a channel. A
/// stream ends cleanly when the sender goes away; an `Err` item makes hyper cut the connection
/// without ending the chunked body, as a dropped connection looks to the client.
#[derive(Debug)]
pub(crate) enum ApiBody {
    /// A whole body (taken on the first poll).
    Full(Option<Bytes>),
    /// A watch stream.
    Stream(mpsc::Receiver<Result<Bytes, Error>>),
}

impl ApiBody {
    /// A whole body.
    pub fn full(bytes: Vec<u8>) -> ApiBody {
        ApiBody::Full(Some(Bytes::from(bytes)))
    }
}

impl Body for ApiBody {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        match self.get_mut() {
            ApiBody::Full(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            ApiBody::Stream(rx) => rx
                .poll_recv(cx)
                .map(|item| item.map(|r| r.map(Frame::data))),
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self, ApiBody::Full(None))
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            ApiBody::Full(bytes) => {
                SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64))
            }
            ApiBody::Stream(_) => SizeHint::default(),
        }
    }
}
