//! temporary experiment
use std::hint::black_box;
use std::time::Instant;
fn batch(f: &mut dyn FnMut()) -> f64 {
    let t = Instant::now();
    for _ in 0..10 {
        f();
    }
    t.elapsed().as_secs_f64() / 10.0
}
fn main() {
    let size: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(65536);
    let stream =
        eventstream_benches::build_stream(size, eventstream_benches::frames_for(size, 1 << 20));
    let mut fb = eventstream_benches::CopyBuffer::for_frames(size, 8192, &stream);
    let s2 = stream.clone();
    let mut fs: Vec<Box<dyn FnMut()>> = vec![
        Box::new(|| {
            black_box(eventstream_benches::copy_crc_floor(&stream, 8192, &mut fb));
        }),
        Box::new(|| {
            black_box(eventstream_benches::crc_floor(&stream));
        }),
        Box::new(|| {
            black_box(eventstream_benches::decode_ours_chunked(&stream, 8192));
        }),
        Box::new(|| {
            black_box(eventstream_benches::decode_ours_whole(&s2));
        }),
    ];
    for f in fs.iter_mut() {
        for _ in 0..100 {
            f();
        }
    }
    let mut best = vec![f64::INFINITY; fs.len()];
    for _ in 0..300 {
        for (i, f) in fs.iter_mut().enumerate() {
            best[i] = best[i].min(batch(&mut **f));
        }
    }
    println!("copy+crc floor {:.1} us, crc floor {:.1} us, ours chunked {:.1} us ({:.3}x), ours whole {:.1} us ({:.3}x)",
        best[0]*1e6, best[1]*1e6, best[2]*1e6, best[0]/best[2], best[3]*1e6, best[1]/best[3]);
}
