//! The blocking message reader and writer over files and other `Read`/`Write`s: capture files,
//! files cut mid-frame, signed captures, read timeouts of a plain reader.

mod common;

use common::{events, params, Rng, CLIENT_SEED};
use eventstream::frame::Message;
use eventstream::sign::{SigV4Signer, SigV4Verifier, SigningTime};
use eventstream_blocking::{Error, MessageReader, MessageWriter};
use std::fs::File;
use std::io::{self, BufWriter, Read};
use std::path::PathBuf;

fn temp_path(name: &str) -> PathBuf {
    let dir = std::env::var_os("CARGO_TARGET_TMPDIR")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    dir.join(format!("evs-blocking-{}-{name}", std::process::id()))
}

fn write_capture(path: &PathBuf, messages: &[Message]) -> u64 {
    let mut writer = MessageWriter::new(BufWriter::new(File::create(path).unwrap()));
    for m in messages {
        writer.write_message(m).unwrap();
    }
    writer
        .finish()
        .unwrap()
        .into_inner()
        .unwrap()
        .sync_all()
        .unwrap();
    std::fs::metadata(path).unwrap().len()
}

#[test]
fn a_capture_file_reads_back_whole() {
    let path = temp_path("whole.evs");
    let messages = events(3, 500, 3000);
    write_capture(&path, &messages);
    let read: Vec<Message> = MessageReader::new(File::open(&path).unwrap())
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(read, messages);
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn a_file_cut_mid_frame_gives_the_complete_messages_then_truncated() {
    let path = temp_path("cut.evs");
    let messages = events(4, 100, 2000);
    let len = write_capture(&path, &messages);
    let last = messages.last().unwrap().encoded_len() as u64;
    for cut in [1, 5, 11, last / 2, last - 4, last - 1] {
        std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(len - cut)
            .unwrap();
        let mut reader = MessageReader::new(File::open(&path).unwrap()).with_read_buffer_size(1000);
        for want in &messages[..99] {
            assert_eq!(&reader.next().unwrap().unwrap(), want);
        }
        let err = reader.next().unwrap().unwrap_err();
        assert_eq!(err.kind(), "truncated", "cut {cut}: {err}");
        assert!(matches!(err, Error::Frame(_)));
        assert!(reader.next().is_none(), "the reader is done after an error");
        std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(len)
            .unwrap();
    }
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn a_signed_capture_is_verified_and_unwrapped() {
    let messages = events(5, 50, 5000);
    let t = SigningTime::from_unix_seconds(1_700_000_000).unwrap();
    let mut writer =
        MessageWriter::new(Vec::new()).with_signer(SigV4Signer::new(params(), CLIENT_SEED));
    for m in &messages {
        writer.write_message_at(m, t).unwrap();
    }
    let wire = writer.finish_at(t).unwrap();

    let read: Vec<Message> = MessageReader::new(&wire[..])
        .with_verifier(SigV4Verifier::new(params(), CLIENT_SEED))
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(read, messages);

    // Without the verifier: the envelopes themselves, and the end frame.
    assert_eq!(MessageReader::new(&wire[..]).count(), messages.len() + 1);

    // Without the end frame: every message, then missing_end_frame.
    let end_len = {
        let mut s = SigV4Signer::new(params(), CLIENT_SEED);
        s.sign_end(t).unwrap().encoded_len()
    };
    let mut reader = MessageReader::new(&wire[..wire.len() - end_len])
        .with_verifier(SigV4Verifier::new(params(), CLIENT_SEED));
    assert_eq!(
        reader
            .by_ref()
            .take(messages.len())
            .filter(Result::is_ok)
            .count(),
        messages.len()
    );
    assert_eq!(
        reader.next().unwrap().unwrap_err().kind(),
        "missing_end_frame"
    );

    // A flipped byte inside an envelope's payload: the message checksum catches it first.
    let mut bad = wire.clone();
    bad[100] ^= 1;
    let err = MessageReader::new(&bad[..])
        .with_verifier(SigV4Verifier::new(params(), CLIENT_SEED))
        .find_map(Result::err)
        .unwrap();
    assert_eq!(err.kind(), "message_checksum_mismatch");

    // The wrong seed: the chain does not verify.
    let err = MessageReader::new(&wire[..])
        .with_verifier(SigV4Verifier::new(params(), &"00".repeat(32)))
        .find_map(Result::err)
        .unwrap();
    assert_eq!(err.kind(), "signature_mismatch");
}

/// A reader that returns a few bytes at a time and sometimes times out, as a socket with a read
/// timeout does.
struct Flaky<'a> {
    data: &'a [u8],
    rng: Rng,
}

impl Read for Flaky<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.rng.range(0, 3) {
            0 => Err(io::ErrorKind::WouldBlock.into()),
            1 => Err(io::ErrorKind::Interrupted.into()),
            _ => {
                let n = self.rng.range(1, 50).min(buf.len()).min(self.data.len());
                buf[..n].copy_from_slice(&self.data[..n]);
                self.data = &self.data[n..];
                Ok(n)
            }
        }
    }
}

#[test]
fn read_timeouts_are_reported_and_lose_nothing() {
    let messages = events(6, 40, 300);
    let mut writer = MessageWriter::new(Vec::new());
    for m in &messages {
        writer.write_message(m).unwrap();
    }
    let wire = writer.finish().unwrap();

    let mut reader = MessageReader::new(Flaky {
        data: &wire,
        rng: Rng::new(7),
    });
    let (mut got, mut timeouts) = (Vec::new(), 0);
    loop {
        match reader.read_message() {
            Ok(Some(m)) => got.push(m),
            Ok(None) => break,
            Err(Error::TimedOut) => timeouts += 1,
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(got, messages);
    assert!(timeouts > 0);
}

#[test]
fn limits_are_enforced() {
    use eventstream::frame::Limits;
    let big = Message::new(vec![0u8; 2000]);
    let limits = Limits::default().with_max_payload_len(1000);

    let mut writer = MessageWriter::new(Vec::new()).with_limits(limits);
    assert_eq!(
        writer.write_message(&big).unwrap_err().kind(),
        "payload_too_long"
    );
    assert!(writer.get_ref().is_empty(), "nothing is written on error");

    let mut wire = bytes::BytesMut::new();
    big.encode(&mut wire).unwrap();
    let err = MessageReader::new(&wire[..])
        .with_limits(limits)
        .next()
        .unwrap()
        .unwrap_err();
    assert_eq!(err.kind(), "payload_too_long");
}

/// With a verifier, the reader's limits are the messages': their envelopes are decoded with
/// `Limits::enveloped`, so a message at the limits is read, whichever builder comes first. An
/// inner message over the reader's limits is a frame error, like a bad frame on the wire.
#[test]
fn signed_messages_at_the_limits_are_read() {
    use eventstream::frame::Limits;
    let limits = Limits::default().with_max_payload_len(1000);
    let message = Message::new(vec![7u8; 1000]);
    let t = SigningTime::from_unix_seconds(1_700_000_000).unwrap();
    let mut writer = MessageWriter::new(Vec::new())
        .with_limits(limits)
        .with_signer(SigV4Signer::new(params(), CLIENT_SEED));
    writer.write_message_at(&message, t).unwrap();
    let wire = writer.finish_at(t).unwrap();
    let verifier = || SigV4Verifier::new(params(), CLIENT_SEED);
    let read = |reader: MessageReader<&[u8]>| reader.collect::<Result<Vec<_>, _>>();

    let first = MessageReader::new(&wire[..]).with_limits(limits);
    assert_eq!(
        read(first.with_verifier(verifier())).unwrap(),
        std::slice::from_ref(&message)
    );
    let then = MessageReader::new(&wire[..]).with_verifier(verifier());
    assert_eq!(read(then.with_limits(limits)).unwrap(), [message]);

    let tight = limits.with_max_payload_len(999);
    let reader = MessageReader::new(&wire[..]).with_limits(tight);
    let err = read(reader.with_verifier(verifier())).unwrap_err();
    assert_eq!(err.kind(), "payload_too_long");
    assert!(matches!(err, Error::Frame(_)), "{err:?}");
}
