//! Features of an image: what a scratch changes. A scratch is a thin dark valley inside a
//! bright part; a part's edge is a step, not a valley. So: the share of pixels that lie in a
//! valley (darker than both neighbours at distance 1 or 2, across any of four directions) at
//! eight depths each, and a 16-bin intensity histogram.

use crate::images::{Image, SIZE};

/// Valley depths counted, in gray levels.
const DEPTHS: [i32; 8] = [8, 16, 24, 32, 40, 48, 64, 80];
/// Directions across which a valley is looked for: horizontal, vertical, both diagonals.
const DIRECTIONS: [(i32, i32); 4] = [(1, 0), (0, 1), (1, 1), (1, -1)];

/// Number of features per image.
pub const COUNT: usize = 2 * DEPTHS.len() + 16;

/// The features of `image`.
pub fn of(image: &Image) -> Vec<f64> {
    let px = |x: i32, y: i32| -> Option<i32> {
        let in_range = (0..SIZE as i32).contains(&x) && (0..SIZE as i32).contains(&y);
        in_range.then(|| i32::from(image.pixels[y as usize * SIZE + x as usize]))
    };
    let mut valleys = [[0usize; DEPTHS.len()]; 2];
    let mut histogram = [0usize; 16];
    for y in 0..SIZE as i32 {
        for x in 0..SIZE as i32 {
            let v = px(x, y).unwrap_or_default();
            histogram[(v / 16) as usize] += 1;
            for (d, counts) in valleys.iter_mut().enumerate() {
                let reach = d as i32 + 1;
                let deepest = DIRECTIONS
                    .iter()
                    .filter_map(|(dx, dy)| {
                        let a = px(x - dx * reach, y - dy * reach)?;
                        let b = px(x + dx * reach, y + dy * reach)?;
                        Some(a.min(b) - v)
                    })
                    .max()
                    .unwrap_or(0);
                for (i, depth) in DEPTHS.iter().enumerate() {
                    counts[i] += usize::from(deepest > *depth);
                }
            }
        }
    }
    let n = (SIZE * SIZE) as f64;
    valleys
        .iter()
        .flatten()
        .chain(histogram.iter())
        .map(|c| *c as f64 / n)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    #[test]
    fn scratches_make_deep_valleys() {
        let mut rng = Rng::new(5);
        let deep = |img: &Image| of(img)[4] + of(img)[12];
        let clean: f64 = (0..20)
            .map(|_| deep(&Image::synthetic(&mut rng, false)))
            .sum();
        let scratched: f64 = (0..20)
            .map(|_| deep(&Image::synthetic(&mut rng, true)))
            .sum();
        assert!(scratched > 5.0 * clean.max(1e-3), "{scratched} vs {clean}");
        assert_eq!(of(&Image::synthetic(&mut rng, true)).len(), COUNT);
    }
}
