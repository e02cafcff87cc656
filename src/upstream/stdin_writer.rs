//! Writing to a stdio server's stdin. The pipe is non-blocking: a caller
//! writes its own line when nothing is queued ahead of it, and whatever does
//! not fit is queued for the writer thread, which waits for room. So a
//! server that stops reading (a full pipe) blocks no caller past its
//! timeout, and lines never interleave: the pipe and the queue are behind
//! one lock, and nothing under it waits.

use std::collections::VecDeque;
use std::io::{self, ErrorKind, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::process::ChildStdin;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use crossbeam_channel::{bounded, select, Receiver, Sender};

use super::error::CallError;
use super::stdio::Link;

/// How long the writer waits for room at a time before it looks again
/// whether the pipe was closed.
const ROOM_WAIT: Duration = Duration::from_millis(100);

/// What reaches the writer thread by channel; the callers' own lines go
/// through `Stdin::send`.
pub enum Outgoing {
    /// Our answer to one of the server's own requests; counted, so that a
    /// server asking faster than it reads cannot grow the queue without end.
    Answer { line: String },
    /// Close stdin: the polite way to ask a stdio server to leave.
    Close,
}

/// The server's stdin, shared by the callers and the writer thread.
pub struct Stdin {
    state: Mutex<State>,
    /// Tells the writer thread that a line is waiting for room.
    wake: Sender<()>,
    link: Arc<Link>,
}

struct State {
    /// `None` once closed.
    pipe: Option<ChildStdin>,
    /// Lines not yet written whole; the first may be partly written.
    queue: VecDeque<Queued>,
    /// Set by the first failed write; every later line fails with it.
    broken: Option<String>,
}

struct Queued {
    bytes: Vec<u8>,
    written: usize,
    id: Option<u64>,
    answer: bool,
    started: bool,
}

impl Queued {
    fn new(line: String, id: Option<u64>, answer: bool) -> Queued {
        let mut bytes = line.into_bytes();
        bytes.push(b'\n');
        Queued {
            bytes,
            written: 0,
            id,
            answer,
            started: false,
        }
    }
}

impl Stdin {
    /// Makes the pipe non-blocking; the receiver is the writer thread's wake-up.
    pub fn new(pipe: ChildStdin, link: Arc<Link>) -> io::Result<(Arc<Stdin>, Receiver<()>)> {
        set_nonblocking(pipe.as_raw_fd())?;
        let (wake, woken) = bounded(1);
        let stdin = Stdin {
            state: Mutex::new(State {
                pipe: Some(pipe),
                queue: VecDeque::new(),
                broken: None,
            }),
            wake,
            link,
        };
        Ok((Arc::new(stdin), woken))
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic elsewhere must not wedge every later call.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Writes one JSON-RPC message on one line, or queues what does not fit
    /// now; false once closed. `id` for our requests: skipped when nobody
    /// waits for it any more by its turn, failed on a write error.
    pub fn send(&self, line: String, id: Option<u64>) -> bool {
        self.push(Queued::new(line, id, false))
    }

    fn push(&self, line: Queued) -> bool {
        let mut state = self.lock();
        if state.pipe.is_none() {
            if line.answer {
                self.link.answers_queued.fetch_sub(1, Ordering::SeqCst);
            }
            return false;
        }
        let first = state.queue.is_empty();
        state.queue.push_back(line);
        // With lines queued ahead, the writer thread is already on them.
        if first {
            self.flush(&mut state);
            if !state.queue.is_empty() {
                let _ = self.wake.try_send(());
            }
        }
        true
    }

    /// Writes queued lines in order until done or the pipe is full.
    fn flush(&self, state: &mut State) {
        let State {
            pipe,
            queue,
            broken,
        } = state;
        let Some(pipe) = pipe else { return };
        while let Some(front) = queue.front_mut() {
            if !front.started {
                front.started = true;
                if front.answer {
                    self.link.answers_queued.fetch_sub(1, Ordering::SeqCst);
                }
                // Timed out or cancelled before its turn: not written at all.
                if front.id.is_some_and(|id| !self.link.pending.mark_sent(id)) {
                    queue.pop_front();
                    continue;
                }
            }
            let written = match broken {
                Some(why) => Err(why.clone()),
                None => Ok(write_some(pipe, &front.bytes[front.written..])),
            };
            let failed = match written {
                Err(why) => Some(why),
                Ok(Ok(n)) => {
                    front.written += n;
                    if front.written < front.bytes.len() {
                        continue;
                    }
                    None
                }
                Ok(Err(e)) if e.kind() == ErrorKind::WouldBlock => return,
                Ok(Err(e)) => {
                    let why = format!("writing to the server's stdin failed: {}", e.kind());
                    log::debug!("{}: {why}", self.link.name);
                    *broken = Some(why.clone());
                    Some(why)
                }
            };
            if let (Some(why), Some(id)) = (failed, front.id) {
                self.link
                    .pending
                    .complete(id, Err(CallError::transport(why, false)));
            }
            queue.pop_front();
        }
    }

    /// Writes what fits at once and closes the pipe; what is left is dropped
    /// (the requests among it have already failed with the link's end).
    pub fn close(&self) {
        let mut state = self.lock();
        self.flush(&mut state);
        for line in state.queue.drain(..) {
            if line.answer && !line.started {
                self.link.answers_queued.fetch_sub(1, Ordering::SeqCst);
            }
        }
        state.pipe = None;
        drop(state);
        let _ = self.wake.try_send(());
    }

    /// Flushes; the pipe to wait on when lines are still waiting for room,
    /// `Err` once closed.
    fn flush_pending(&self) -> Result<Option<RawFd>, ()> {
        let mut state = self.lock();
        self.flush(&mut state);
        match &state.pipe {
            None => Err(()),
            Some(_) if state.queue.is_empty() => Ok(None),
            Some(pipe) => Ok(Some(pipe.as_raw_fd())),
        }
    }
}

/// The writer thread: writes what the callers left queued once the pipe has
/// room, and the answers to the server's own requests.
pub fn run(stdin: Arc<Stdin>, outgoing: Receiver<Outgoing>, woken: Receiver<()>) {
    loop {
        let waiting = match stdin.flush_pending() {
            Err(()) => return,
            Ok(waiting) => waiting,
        };
        if let Some(fd) = waiting {
            // The pipe is only closed under the lock, which is not held
            // here: at worst the wait ends early and the loop looks again.
            wait_for_room(fd, ROOM_WAIT);
            while let Ok(message) = outgoing.try_recv() {
                if !take(&stdin, message) {
                    return;
                }
            }
            continue;
        }
        select! {
            recv(outgoing) -> message => match message {
                Ok(message) => {
                    if !take(&stdin, message) {
                        return;
                    }
                }
                Err(_) => return,
            },
            recv(woken) -> _ => {}
        }
    }
}

/// False when the writer is done.
fn take(stdin: &Stdin, message: Outgoing) -> bool {
    match message {
        Outgoing::Answer { line } => stdin.push(Queued::new(line, None, true)),
        Outgoing::Close => {
            stdin.close();
            false
        }
    }
}

fn write_some(mut pipe: &ChildStdin, bytes: &[u8]) -> io::Result<usize> {
    loop {
        match pipe.write(bytes) {
            Ok(0) => return Err(ErrorKind::WriteZero.into()),
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

fn set_nonblocking(fd: RawFd) -> io::Result<()> {
    // SAFETY: fcntl on a descriptor we own, with flags only.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if flags < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: as above.
    if unsafe { libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn wait_for_room(fd: RawFd, limit: Duration) {
    let mut poll = libc::pollfd {
        fd,
        events: libc::POLLOUT,
        revents: 0,
    };
    let millis = libc::c_int::try_from(limit.as_millis()).unwrap_or(libc::c_int::MAX);
    // SAFETY: one pollfd, valid for the call; the result only ends the wait.
    unsafe {
        libc::poll(&mut poll, 1, millis);
    }
}
