//! Criterion benches: our SigV4 event signer against `aws-sigv4`'s
//! (`aws_sigv4::event_stream::sign_message`), through the functions of `eventstream_benches::sign`
//! (the same work as the signing rows of the `compare` binary).
//!
//! ```text
//! cargo bench -p eventstream-benches --bench sign
//! ```
//!
//! One iteration signs a chain of `SIGN_CHAIN_EVENTS` events (the 64 B benchmark message, three
//! string headers), the time advancing one second every `SIGN_ADVANCE_EVERY` events; throughput
//! is reported in events. Each function continues its own chain from one iteration to the next,
//! as a long stream does. `sign_to` and the two `*_encode` functions produce wire bytes; `sign`
//! and `reference_sign_message` stop at the envelope message.

use bytes::BytesMut;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use eventstream_benches::frame::{our_message, reference_message, size_label};
use eventstream_benches::sign::{
    bench_sign_times, envelope_len, our_signer, reference_signer, sign_ours, sign_ours_encode,
    sign_ours_to, sign_reference, sign_reference_encode, SIGN_PAYLOAD_LEN, SIGN_SEED,
};
use std::time::Duration;

fn sign(c: &mut Criterion) {
    let times = bench_sign_times();
    let ours = our_message(SIGN_PAYLOAD_LEN);
    let theirs = reference_message(SIGN_PAYLOAD_LEN);
    let reference = reference_signer();
    let mut buf = BytesMut::with_capacity(envelope_len(SIGN_PAYLOAD_LEN));
    let mut group = c.benchmark_group(format!(
        "sign/{}",
        size_label(SIGN_PAYLOAD_LEN).replace(' ', "")
    ));
    group.throughput(Throughput::Elements(times.len() as u64));

    let mut signer = our_signer();
    group.bench_function("ours_sign_to", |b| {
        b.iter(|| sign_ours_to(&mut signer, &ours, &times, &mut buf))
    });
    let mut signer = our_signer();
    group.bench_function("ours_sign", |b| {
        b.iter(|| sign_ours(&mut signer, &ours, &times))
    });
    let mut signer = our_signer();
    group.bench_function("ours_sign_encode", |b| {
        b.iter(|| sign_ours_encode(&mut signer, &ours, &times, &mut buf))
    });
    let mut prior = SIGN_SEED.to_owned();
    group.bench_function("reference_sign_message", |b| {
        b.iter(|| sign_reference(&reference, &mut prior, &theirs, &times))
    });
    let mut prior = SIGN_SEED.to_owned();
    group.bench_function("reference_sign_message_encode", |b| {
        b.iter(|| sign_reference_encode(&reference, &mut prior, &theirs, &times, &mut buf))
    });
    group.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20)
}

criterion_group! {
    name = benches;
    config = config();
    targets = sign
}
criterion_main!(benches);
