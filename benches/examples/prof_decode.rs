//! Decodes a stream of 64-byte messages in 8 KiB chunks in a loop, for profilers.
fn main() {
    let size: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(64);
    let stream =
        eventstream_benches::build_stream(size, eventstream_benches::frames_for(size, 1 << 20));
    let mut total = 0u64;
    for _ in 0..300 {
        total += eventstream_benches::decode_ours_chunked(&stream, 8192).messages;
    }
    println!("{total}");
}
