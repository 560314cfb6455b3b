//! Well-formed fake keys (random-looking, never issued), for the tests of
//! this crate and of the CLI's `doctor` (the `samples` feature).

/// `len` characters of `alphabet`, the same for the same `seed`.
pub fn body(len: usize, alphabet: &[u8], seed: u64) -> String {
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            alphabet[(x % alphabet.len() as u64) as usize] as char
        })
        .collect()
}
pub const B62: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
pub const B64U: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";
pub fn anthropic(seed: u64) -> String {
    format!("sk-ant-api03-{}AA", body(93, B64U, seed))
}
pub fn anthropic_admin(seed: u64) -> String {
    format!("sk-ant-admin01-{}AA", body(93, B64U, seed))
}
pub fn anthropic_oauth(seed: u64) -> String {
    format!("sk-ant-oat01-{}AA", body(93, B64U, seed))
}
pub fn openai_proj(seed: u64) -> String {
    format!(
        "sk-proj-{}T3BlbkFJ{}",
        body(74, B64U, seed),
        body(74, B64U, seed + 1)
    )
}
pub fn openai_legacy(seed: u64) -> String {
    format!("sk-{}", body(48, B62, seed))
}
pub fn google(seed: u64) -> String {
    format!("AIza{}", body(35, B64U, seed))
}
pub fn openrouter(seed: u64) -> String {
    format!("sk-or-v1-{}", body(64, b"0123456789abcdef", seed))
}
pub fn groq(seed: u64) -> String {
    format!("gsk_{}", body(52, B62, seed))
}
pub fn github(seed: u64) -> String {
    format!("ghp_{}", body(36, B62, seed))
}
pub fn github_pat(seed: u64) -> String {
    format!(
        "github_pat_{}_{}",
        body(22, B62, seed),
        body(59, B62, seed + 1)
    )
}
/// A key of no known format, long enough to count under a tool's name.
pub fn opaque(seed: u64) -> String {
    format!("crsr_{}", body(40, B62, seed))
}
