//! Criterion benchmarks for aisoc-notify live in `benches/`; this library target is empty so the
//! package can sit in the workspace. Run them with `cargo bench -p aisoc-notify-benches`.
