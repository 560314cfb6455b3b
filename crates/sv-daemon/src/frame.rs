//! Frames: one JSON-RPC request or response per line (docs/design.md §7).
//! Reading them off a connection with timeouts and a size limit, each with
//! the process that sent it (docs/design.md §11), decoding a request,
//! encoding a response; every byte that may be a secret stays in zeroising
//! memory.

use crate::platform::{Reader, Sender};
use crate::rpc::{Dispatched, Outcome};
use std::sync::Arc;
use std::time::Duration;
use sv_core::protocol::{self as p, code, RpcError, MAX_FRAME};
use zeroize::{Zeroize, Zeroizing};

/// How long a frame may take from its first byte to its newline.
const FRAME_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a connection may sit idle between frames: long enough for a
/// user to find and paste a key between `add`'s status check and the add
/// itself on the same connection.
const IDLE_TIMEOUT: Duration = Duration::from_secs(600);

/// What [`FrameReader::next`] found.
pub enum Frame {
    /// A frame and who sent it (`None`: the kernel did not say).
    Line(Zeroizing<Vec<u8>>, Option<Arc<Sender>>),
    /// A frame whose bytes came from two different processes (one wrote
    /// its start, another its end): refused, whoever asks.
    MixedSenders,
    Eof,
    TooLarge,
    TimedOut,
}

/// Reads newline-terminated frames, keeping every byte it holds in
/// zeroising memory (frames carry keys and passphrases): no `BufReader`
/// buffer or reallocation leaves a copy behind.
pub struct FrameReader {
    inner: Reader,
    pending: Zeroizing<Vec<u8>>,
    /// Who sent the bytes in `pending` (the first read's sender), and
    /// whether a later read into the same frame came from another process.
    pending_sender: Option<Arc<Sender>>,
    mixed: bool,
    /// Who sent the last read: bytes left in `pending` after a frame are
    /// always from the last read (a read starts only when `pending` holds
    /// no newline).
    last_sender: Option<Arc<Sender>>,
    /// Where reads land. Wiped as far as it was written after each frame
    /// (wiping all 4 KiB per frame was a tenth of a lookup's cost), and
    /// whole when the reader goes, also when a read is cancelled mid-frame
    /// (shutdown) or unwinds.
    chunk: Zeroizing<[u8; 4096]>,
    /// How much of `chunk` may hold bytes not yet wiped.
    dirty: usize,
}

/// Appends `data` to `buf`, moving to a bigger zeroising buffer (and wiping
/// the old one) instead of letting `Vec` reallocate behind our back.
/// The first size is under glibc's large-chunk threshold (1 KiB): a larger
/// one per frame made malloc consolidate its fast bins on every request.
fn push_zeroizing(buf: &mut Zeroizing<Vec<u8>>, data: &[u8]) {
    let need = buf.len() + data.len();
    if need > buf.capacity() {
        let mut bigger = Zeroizing::new(Vec::with_capacity(need.max(buf.capacity() * 2).max(512)));
        bigger.extend_from_slice(buf);
        *buf = bigger;
    }
    buf.extend_from_slice(data);
}

/// Whether two reads certainly came from one process.
fn same_sender(a: &Option<Arc<Sender>>, b: &Option<Arc<Sender>>) -> bool {
    matches!((a, b), (Some(a), Some(b)) if a.same_process(b))
}

impl FrameReader {
    pub fn new(inner: Reader) -> Self {
        FrameReader {
            inner,
            pending: Zeroizing::new(Vec::new()),
            pending_sender: None,
            mixed: false,
            last_sender: None,
            chunk: Zeroizing::new([0u8; 4096]),
            dirty: 0,
        }
    }

    fn wipe_chunk(&mut self) {
        self.chunk[..self.dirty].zeroize();
        self.dirty = 0;
    }

    /// The next frame (without its newline). Waits up to [`IDLE_TIMEOUT`]
    /// for a frame to start and [`FRAME_TIMEOUT`] for it to finish.
    pub async fn next(&mut self) -> std::io::Result<Frame> {
        let mut deadline =
            (!self.pending.is_empty()).then(|| tokio::time::Instant::now() + FRAME_TIMEOUT);
        let found = loop {
            if let Some(i) = self.pending.iter().position(|&b| b == b'\n') {
                break Some(i);
            }
            if self.pending.len() > MAX_FRAME {
                self.wipe_chunk();
                return Ok(Frame::TooLarge);
            }
            let limit = deadline.unwrap_or_else(|| tokio::time::Instant::now() + IDLE_TIMEOUT);
            let (n, sender) =
                match tokio::time::timeout_at(limit, self.inner.recv(&mut self.chunk[..])).await {
                    Ok(Ok(read)) => read,
                    Ok(Err(e)) => {
                        self.wipe_chunk();
                        return Err(e);
                    }
                    Err(_) => break None,
                };
            self.dirty = self.dirty.max(n);
            if n == 0 {
                self.wipe_chunk();
                return Ok(Frame::Eof);
            }
            deadline.get_or_insert_with(|| tokio::time::Instant::now() + FRAME_TIMEOUT);
            let sender = sender.map(Arc::new);
            if self.pending.is_empty() {
                self.pending_sender = sender.clone();
                self.mixed = false;
            } else if !same_sender(&self.pending_sender, &sender) {
                self.mixed = true;
            }
            self.last_sender = sender;
            push_zeroizing(&mut self.pending, &self.chunk[..n]);
        };
        self.wipe_chunk();
        let Some(i) = found else {
            return Ok(Frame::TimedOut);
        };
        if i > MAX_FRAME {
            return Ok(Frame::TooLarge);
        }
        let mixed = std::mem::take(&mut self.mixed);
        let line = if i + 1 == self.pending.len() {
            // The usual case, one whole frame: hand over the buffer itself
            // (its newline stays in the spare capacity, wiped with it).
            let mut line = std::mem::take(&mut *self.pending);
            line.truncate(i);
            Zeroizing::new(line)
        } else {
            let mut line = Zeroizing::new(Vec::with_capacity(i));
            line.extend_from_slice(&self.pending[..i]);
            let mut rest = Zeroizing::new(Vec::with_capacity(self.pending.len() - i - 1));
            rest.extend_from_slice(&self.pending[i + 1..]);
            self.pending = rest;
            line
        };
        let sender = std::mem::take(&mut self.pending_sender);
        if !self.pending.is_empty() {
            // What is left after the newline came with the last read (a
            // read starts only when `pending` holds no newline).
            self.pending_sender = self.last_sender.clone();
        } else {
            self.last_sender = None;
        }
        Ok(if mixed {
            Frame::MixedSenders
        } else {
            Frame::Line(line, sender)
        })
    }
}

/// The response line for `out`, newline included, built in one pre-sized
/// zeroising buffer (results can hold keys).
pub fn encode_response(id: &serde_json::Value, out: Outcome) -> Zeroizing<Vec<u8>> {
    let id_text = serde_json::to_vec(id).unwrap_or_else(|_| b"null".to_vec());
    match out {
        Ok(result) => {
            let mut buf = Zeroizing::new(Vec::with_capacity(result.len() + id_text.len() + 48));
            buf.extend_from_slice(br#"{"jsonrpc":"2.0","id":"#);
            buf.extend_from_slice(&id_text);
            buf.extend_from_slice(br#","result":"#);
            buf.extend_from_slice(&result);
            buf.extend_from_slice(b"}\n");
            buf
        }
        Err(error) => {
            let mut buf = Zeroizing::new(
                serde_json::to_vec(&p::ResponseErr { jsonrpc: "2.0", id, error }).unwrap_or_else(|_| {
                    br#"{"jsonrpc":"2.0","id":null,"error":{"code":-32603,"message":"internal error"}}"#.to_vec()
                }),
            );
            buf.push(b'\n');
            buf
        }
    }
}

/// A frame as a JSON-RPC 2.0 request, or the answer to a frame that is not.
pub fn decode_frame(
    frame: &[u8],
) -> Result<p::IncomingRequest<'_>, Box<(serde_json::Value, Dispatched)>> {
    match serde_json::from_slice::<p::IncomingRequest<'_>>(frame) {
        Err(_) => Err(Box::new((
            serde_json::Value::Null,
            Dispatched::error(RpcError::new(
                code::PARSE_ERROR,
                "parse error: not a JSON-RPC request object",
            )),
        ))),
        Ok(req) if req.jsonrpc != Some("2.0") => Err(Box::new((
            request_id(&req),
            Dispatched::error(RpcError::new(
                code::INVALID_REQUEST,
                "invalid request: jsonrpc must be \"2.0\"",
            )),
        ))),
        Ok(req) => Ok(req),
    }
}

/// The id to answer `req` with (`null` when it gave none).
pub fn request_id(req: &p::IncomingRequest<'_>) -> serde_json::Value {
    req.id.clone().unwrap_or(serde_json::Value::Null)
}
