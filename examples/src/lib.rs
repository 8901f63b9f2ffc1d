//! Nothing here: this package holds only runnable examples (`examples/`), one or more per
//! aisoc-notify crate. Run one with `cargo run -p aisoc-notify-examples --example <name>`.
