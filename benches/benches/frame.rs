//! Criterion benches: our frame decoder and encoder against `aws-smithy-eventstream`, per payload
//! size, with the floors, all through the functions of `eventstream_benches::frame` (the same work as
//! the `compare` binary).
//!
//! ```text
//! cargo bench -p eventstream-benches --bench frame
//! cargo bench -p eventstream-benches --bench frame -- decode/64B   # one group
//! ```
//!
//! Throughput is reported in bytes of frames. Timings are kept short (0.5 s warm-up, 2 s of
//! measurement, 20 samples) so that the suite runs in about a minute.

use bytes::BytesMut;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use eventstream_benches::frame::{
    build_stream, copy_crc_floor, crc_floor, decode_ours_chunked, decode_ours_whole,
    decode_reference_chunked, encode_ours, encode_reference, frame_len, frames_for, our_message,
    reference_message, size_label, CopyBuffer, CHUNK_LEN, PAYLOAD_SIZES,
};
use std::hint::black_box;
use std::time::Duration;

/// About how many bytes of frames each decode iteration handles.
const STREAM_BYTES: usize = 256 * 1024;

/// A group id without spaces: `64B`, `1KiB`, `64KiB`.
fn size_id(payload_len: usize) -> String {
    size_label(payload_len).replace(' ', "")
}

fn decode(c: &mut Criterion) {
    for payload_len in PAYLOAD_SIZES {
        let stream = build_stream(payload_len, frames_for(payload_len, STREAM_BYTES));
        let mut group = c.benchmark_group(format!("decode/{}", size_id(payload_len)));
        group.throughput(Throughput::Bytes(stream.len() as u64));
        group.bench_function("ours_chunked_8KiB", |b| {
            b.iter(|| decode_ours_chunked(&stream, CHUNK_LEN))
        });
        group.bench_function("ours_whole_bytes", |b| {
            b.iter(|| decode_ours_whole(&stream))
        });
        group.bench_function("reference_chunked_8KiB", |b| {
            b.iter(|| decode_reference_chunked(&stream, CHUNK_LEN))
        });
        let mut frame_buf = CopyBuffer::for_frames(payload_len, CHUNK_LEN, &stream);
        group.bench_function("floor_copy_crc_8KiB_into_frame", |b| {
            b.iter(|| copy_crc_floor(&stream, CHUNK_LEN, &mut frame_buf))
        });
        if frame_len(payload_len) > CHUNK_LEN {
            let mut scratch = CopyBuffer::new(CHUNK_LEN, &stream);
            group.bench_function("point_copy_crc_8KiB_into_8KiB", |b| {
                b.iter(|| copy_crc_floor(&stream, CHUNK_LEN, &mut scratch))
            });
        }
        group.bench_function("floor_crc_whole", |b| b.iter(|| crc_floor(&stream)));
        group.finish();
    }
}

fn encode(c: &mut Criterion) {
    for payload_len in PAYLOAD_SIZES {
        let ours = our_message(payload_len);
        let theirs = reference_message(payload_len);
        let mut buf = BytesMut::with_capacity(frame_len(payload_len));
        let mut group = c.benchmark_group(format!("encode/{}", size_id(payload_len)));
        group.throughput(Throughput::Bytes(frame_len(payload_len) as u64));
        group.bench_function("ours", |b| {
            b.iter(|| encode_ours(black_box(&ours), &mut buf))
        });
        group.bench_function("reference", |b| {
            b.iter(|| encode_reference(black_box(&theirs), &mut buf))
        });
        group.finish();
    }
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
    targets = decode, encode
}
criterion_main!(benches);
