//! Decodes a stream of about 1 MiB of messages (payload size: first argument, default 64 B) in
//! 8 KiB chunks, as many times as the second argument says (default 300), for profilers. A
//! third argument `whole` hands the stream over as one `Bytes` instead.
use eventstream_benches::frame::{
    build_stream, decode_ours_chunked, decode_ours_whole, frames_for,
};

fn main() {
    let mut args = std::env::args().skip(1);
    let size: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(64);
    let passes: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(300);
    let whole = args.next().is_some_and(|s| s == "whole");
    let stream = build_stream(size, frames_for(size, 1 << 20));
    let mut total = 0u64;
    for _ in 0..passes {
        total += if whole {
            decode_ours_whole(&stream).messages
        } else {
            decode_ours_chunked(&stream, 8192).messages
        };
    }
    println!("{total}");
}
