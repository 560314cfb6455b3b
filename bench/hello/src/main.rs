//! Prints a fixed line: the start-up cost every Rust CLI pays.
fn main() {
    println!("sk-ant-api03-side-by-side-floor");
}
