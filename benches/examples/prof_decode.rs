//! Decodes a stream of about 1 MiB of messages (payload size: first argument, default 64 B) in
//! 8 KiB chunks, as many times as the second argument says (default 300), for profilers.
fn main() {
    let size: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(64);
    let passes: usize = std::env::args()
        .nth(2)
        .and_then(|s| s.parse().ok())
        .unwrap_or(300);
    let stream =
        eventstream_benches::build_stream(size, eventstream_benches::frames_for(size, 1 << 20));
    let mut total = 0u64;
    for _ in 0..passes {
        total += eventstream_benches::decode_ours_chunked(&stream, 8192).messages;
    }
    println!("{total}");
}
