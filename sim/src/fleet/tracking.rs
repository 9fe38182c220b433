//! Tracking numbers in the carriers' real shapes, unique per fleet.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A 9-digit block that is a bijection of the parcel index (for i < 10^9), so
/// tracking numbers are unique per fleet without any shared state.
fn unique_block(seed: u64, i: u32) -> String {
    const M: u64 = 1_000_000_000;
    const MULT: u64 = 387_420_489; // 3^18, coprime with 10
    let v = ((i as u64 % M) * MULT + splitmix(seed) % M) % M;
    format!("{v:09}")
}

pub(super) fn push_digits(out: &mut String, rng: &mut ChaCha8Rng, n: usize) {
    for _ in 0..n {
        out.push(char::from(b'0' + rng.random_range(0..10u8)));
    }
}

/// A tracking number in the carrier's real shape: a prefix, random filler digits,
/// then the unique block (EMS international-style numbers end with `CN`).
pub(super) fn tracking_number(rng: &mut ChaCha8Rng, code: &str, seed: u64, i: u32) -> String {
    let pick = rng.random_bool(0.5);
    let mut s = String::with_capacity(16);
    let (prefix, filler): (&str, usize) = match code {
        "SF" => ("SF", 4),
        "ZTO" if pick => ("75", 3),
        "ZTO" => ("73", 1),
        "YTO" => ("YT", 4),
        "YD" if pick => ("43", 2),
        "YD" => ("31", 2),
        "JTSD" => ("JT", 4),
        "STO" if pick => ("77", 2),
        "STO" => ("88", 1),
        "JD" => {
            s.push_str("JDV");
            s.push(char::from(b'A' + rng.random_range(0..3u8)));
            ("", 2)
        }
        "EMS" => match rng.random_range(0..3u8) {
            0 => ("11", 2),
            1 => ("98", 2),
            _ => {
                s.push('E');
                s.push(char::from(b'A' + rng.random_range(0..26u8)));
                s.push_str(&unique_block(seed, i));
                s.push_str("CN");
                return s;
            }
        },
        other => (other, 0),
    };
    s.push_str(prefix);
    push_digits(&mut s, rng, filler);
    s.push_str(&unique_block(seed, i));
    s
}
