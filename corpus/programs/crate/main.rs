// The corpus's real crate: regex and serde_json from crates.io, built by
// `cargo build --offline` in the cargo case, then run: it matches records
// in generated text and prints a JSON summary.
use regex_lite::Regex;
use serde_json::{json, Value};

fn main() {
    let re = Regex::new(r"(?P<key>[a-z]{3})-(?P<num>\d{2,5})").unwrap();
    let mut text = String::new();
    let mut x: u64 = 88172645463325252;
    for _ in 0..50_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let k: String = (0..3).map(|i| (b'a' + ((x >> (i * 5)) % 26) as u8) as char).collect();
        text.push_str(&format!("{}-{} ", k, x % 100_000));
    }
    let mut counts = serde_json::Map::new();
    let mut total: u64 = 0;
    for c in re.captures_iter(&text) {
        let key = c["key"][..1].to_string();
        let n: u64 = c["num"].parse().unwrap();
        total = total.wrapping_add(n);
        let e = counts.entry(key).or_insert(json!(0));
        *e = json!(e.as_u64().unwrap() + 1);
    }
    let v: Value = json!({ "total": total, "by_first_letter": counts });
    println!("{}", serde_json::to_string(&v).unwrap());
}
