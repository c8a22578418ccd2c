// A small program for the rustc case: a segmented sieve, a HashMap of
// prime gaps and a sorted Vec, printing counts and a checksum.
use std::collections::HashMap;

fn main() {
    let limit: usize = 30_000_000;
    let mut composite = vec![false; limit + 1];
    let mut primes = Vec::new();
    for i in 2..=limit {
        if !composite[i] {
            primes.push(i as u64);
            let mut j = i * i;
            while j <= limit {
                composite[j] = true;
                j += i;
            }
        }
    }
    let mut gaps: HashMap<u64, u64> = HashMap::new();
    for w in primes.windows(2) {
        *gaps.entry(w[1] - w[0]).or_insert(0) += 1;
    }
    let mut g: Vec<(u64, u64)> = gaps.into_iter().collect();
    g.sort();
    let sum = primes.iter().fold(0u64, |a, p| a.wrapping_mul(31).wrapping_add(*p));
    println!("primes {} checksum {:016x}", primes.len(), sum);
    for (gap, n) in g.iter().take(8) {
        println!("gap {} x {}", gap, n);
    }
}
