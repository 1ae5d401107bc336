// temporary smoke test, not committed
use eventstream_tests::fuzz;
use eventstream_tests::sim::SimRng;
#[test]
fn smoke() {
    let which = std::env::var("T").unwrap_or_default();
    let n: u64 = std::env::var("N")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2000);
    for seed in 0..n {
        let mut rng = SimRng::new(seed);
        let len = rng.below(600) as usize;
        let data: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
        let r = std::panic::catch_unwind(|| match which.as_str() {
            "decode" => fuzz::decode(&data),
            "round_trip" => fuzz::round_trip(&data),
            "session" => fuzz::session(&data),
            _ => fuzz::verify(&data),
        });
        if r.is_err() {
            eprintln!("SEED {seed} HEX {}", eventstream_tests::to_hex(&data));
            panic!("seed {seed}");
        }
    }
}
