//! Mapping key order as go-yaml v2 sorts it (stage: ⑤ render).
//!
//! Input: two keys. Output: their order: digit runs compare as numbers, non-letters before
//! letters. kustomize's output inherits it from `sigs.k8s.io/yaml`.

use std::cmp::Ordering;

/// go-yaml v2's `keyList.Less` for string keys: runs of digits compare as numbers, and a
/// non-letter sorts before a letter. Allocation-free for ASCII keys (nearly all of them).
#[must_use]
pub fn natural_cmp(a: &str, b: &str) -> Ordering {
    if a.is_ascii() && b.is_ascii() {
        return natural_cmp_units(a.as_bytes(), b.as_bytes(), u8::is_ascii_alphabetic, |c| {
            char::from(*c)
        });
    }
    let ar: Vec<char> = a.chars().collect();
    let br: Vec<char> = b.chars().collect();
    natural_cmp_units(&ar, &br, |c| c.is_alphabetic(), |c| *c)
}

fn natural_cmp_units<T: Copy + Ord>(
    ar: &[T],
    br: &[T],
    is_letter: impl Fn(&T) -> bool,
    ch: impl Fn(&T) -> char,
) -> Ordering {
    let digit = |c: &T| ch(c).is_ascii_digit();
    let value = |c: &T| i128::from(u32::from(ch(c)) - u32::from('0'));
    let mut i = 0;
    while i < ar.len() && i < br.len() {
        if ar[i] == br[i] {
            i += 1;
            continue;
        }
        let (al, bl) = (is_letter(&ar[i]), is_letter(&br[i]));
        if al && bl {
            return ar[i].cmp(&br[i]);
        }
        if al || bl {
            return if bl {
                Ordering::Less
            } else {
                Ordering::Greater
            };
        }
        let (mut an, mut bn) = (0i128, 0i128);
        if ch(&ar[i]) == '0' || ch(&br[i]) == '0' {
            let mut j = i;
            while j > 0 && digit(&ar[j - 1]) {
                j -= 1;
                if ch(&ar[j]) != '0' {
                    an = 1;
                    bn = 1;
                    break;
                }
            }
        }
        let mut ai = i;
        while ai < ar.len() && digit(&ar[ai]) {
            an = an.saturating_mul(10).saturating_add(value(&ar[ai]));
            ai += 1;
        }
        let mut bi = i;
        while bi < br.len() && digit(&br[bi]) {
            bn = bn.saturating_mul(10).saturating_add(value(&br[bi]));
            bi += 1;
        }
        if an != bn {
            return an.cmp(&bn);
        }
        if ai != bi {
            return ai.cmp(&bi);
        }
        return ar[i].cmp(&br[i]);
    }
    ar.len().cmp(&br.len())
}
