//! A stdio server's stdin as its writer thread holds it: non-blocking, so
//! that a full pipe (a server that stopped reading) never holds the writer
//! past the end of the connection. It waits for room with poll(2) in short
//! slices and looks at the connection between them; once the connection
//! has ended the pipe is dropped at once, which closes it even when a
//! process outside the server's group still holds the read end.

use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::process::ChildStdin;
use std::time::Duration;

use crossbeam_channel::{Receiver, TryRecvError};

/// How long one wait for room lasts before the connection is looked at.
const SLICE: Duration = Duration::from_millis(100);

/// Why a line was not written whole.
#[derive(Debug)]
pub enum Stopped {
    /// The connection ended while the line waited for room.
    Ended,
    /// The pipe failed (the server closed its end, or worse).
    Failed(io::Error),
}

pub struct StdinPipe {
    pipe: ChildStdin,
}

impl StdinPipe {
    /// Puts the pipe in non-blocking mode.
    pub fn new(pipe: ChildStdin) -> io::Result<StdinPipe> {
        let fd = pipe.as_raw_fd();
        // SAFETY: fcntl(2) on a descriptor we own, with plain integers.
        let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
        if flags < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: as above.
        if unsafe { libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(StdinPipe { pipe })
    }

    /// Writes all of `bytes`, waiting for room as long as `ended` (ready
    /// once the connection has ended) is not. Nothing is written once it is.
    pub fn write_all(&mut self, bytes: &[u8], ended: &Receiver<()>) -> Result<(), Stopped> {
        if has_ended(ended) {
            return Err(Stopped::Ended);
        }
        let mut rest = bytes;
        while !rest.is_empty() {
            match self.pipe.write(rest) {
                Ok(0) => return Err(Stopped::Failed(io::ErrorKind::WriteZero.into())),
                Ok(written) => rest = &rest[written..],
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.wait_for_room().map_err(Stopped::Failed)?;
                    if has_ended(ended) {
                        return Err(Stopped::Ended);
                    }
                }
                Err(e) => return Err(Stopped::Failed(e)),
            }
        }
        Ok(())
    }

    /// Returns once the pipe has room or its reader is gone (the next write
    /// says which), or after one slice.
    fn wait_for_room(&self) -> io::Result<()> {
        let mut poll = libc::pollfd {
            fd: self.pipe.as_raw_fd(),
            events: libc::POLLOUT,
            revents: 0,
        };
        let slice = libc::c_int::try_from(SLICE.as_millis()).unwrap_or(100);
        // SAFETY: one valid pollfd for the duration of the call.
        if unsafe { libc::poll(&mut poll, 1, slice) } < 0 {
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
        Ok(())
    }
}

fn has_ended(ended: &Receiver<()>) -> bool {
    matches!(ended.try_recv(), Err(TryRecvError::Disconnected) | Ok(()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::process::{Command, Stdio};
    use std::thread;

    /// A child that holds its stdin without reading it, and our end.
    fn unread_pipe() -> (std::process::Child, StdinPipe) {
        let mut child = Command::new("sleep")
            .arg("30")
            .stdin(Stdio::piped())
            .spawn()
            .expect("sleep starts");
        let stdin = child.stdin.take().expect("piped");
        (child, StdinPipe::new(stdin).expect("non-blocking"))
    }

    #[test]
    fn a_full_pipe_gives_up_once_the_connection_ends() {
        let (mut child, mut pipe) = unread_pipe();
        let (end, ended) = crossbeam_channel::bounded::<()>(0);
        let ender = thread::spawn(move || {
            thread::sleep(Duration::from_millis(200));
            drop(end);
        });
        // Far more than a pipe holds: only the end can stop the wait.
        let got = pipe.write_all(&vec![b'x'; 4 << 20], &ended);
        ender.join().unwrap();
        let _ = child.kill();
        let _ = child.wait();
        assert!(matches!(got, Err(Stopped::Ended)), "{got:?}");
    }

    #[test]
    fn a_reader_that_drains_gets_every_byte() {
        let mut child = Command::new("wc")
            .arg("-c")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("wc starts");
        let stdin = child.stdin.take().expect("piped");
        let mut pipe = StdinPipe::new(stdin).expect("non-blocking");
        let (_end, ended) = crossbeam_channel::bounded::<()>(0);
        let got = pipe.write_all(&vec![b'x'; 1 << 20], &ended);
        assert!(got.is_ok(), "{got:?}");
        drop(pipe);
        let mut counted = String::new();
        let mut stdout = child.stdout.take().expect("piped");
        stdout.read_to_string(&mut counted).unwrap();
        let _ = child.wait();
        assert_eq!(counted.trim(), (1 << 20).to_string());
    }

    #[test]
    fn nothing_is_written_once_the_connection_has_ended() {
        let (mut child, mut pipe) = unread_pipe();
        let (end, ended) = crossbeam_channel::bounded::<()>(0);
        drop(end);
        let got = pipe.write_all(b"line\n", &ended);
        let _ = child.kill();
        let _ = child.wait();
        assert!(matches!(got, Err(Stopped::Ended)), "{got:?}");
    }

    #[test]
    fn a_pipe_whose_reader_left_fails() {
        let (mut child, mut pipe) = unread_pipe();
        let _ = child.kill();
        let _ = child.wait();
        let (_end, ended) = crossbeam_channel::bounded::<()>(0);
        let got = pipe.write_all(b"line\n", &ended);
        assert!(matches!(got, Err(Stopped::Failed(_))), "{got:?}");
    }
}
