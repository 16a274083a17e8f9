//! Synthetic part images: a bright part (disc or plate) on a noisy background, and, for a
//! defect, a dark scratch of random angle, length and depth across the part. Stored as binary
//! PGM (`P5`) files with a `labels.csv` (`file,label`; label 1 = scratch).

use std::fmt;
use std::path::Path;

use crate::rng::Rng;

/// Side of every image, in pixels.
pub const SIZE: usize = 32;

/// A grayscale image, row major.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    /// `SIZE × SIZE` pixel values.
    pub pixels: Vec<u8>,
}

/// A malformed image or label file; the message names the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataError(pub String);

impl fmt::Display for DataError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Image {
    /// One synthetic part, with a scratch when `scratch`.
    pub fn synthetic(rng: &mut Rng, scratch: bool) -> Self {
        let c = SIZE as f64 / 2.0;
        let (cx, cy) = (c + rng.range(-3.0, 3.0), c + rng.range(-3.0, 3.0));
        let radius = rng.range(9.0, 13.0);
        let disc = rng.unit() < 0.5;
        let (part, background) = (rng.range(150.0, 200.0), rng.range(60.0, 100.0));
        let inside = |x: f64, y: f64| {
            if disc {
                (x - cx).hypot(y - cy) <= radius
            } else {
                (x - cx).abs() <= radius && (y - cy).abs() <= radius * 0.7
            }
        };
        // A scratch: a segment through the part, darker than it by `depth`.
        let angle = rng.range(0.0, std::f64::consts::PI);
        let (dx, dy) = (angle.cos(), angle.sin());
        let half_len = rng.range(radius * 0.5, radius);
        let depth = rng.range(45.0, 110.0);
        let mut pixels = Vec::with_capacity(SIZE * SIZE);
        for y in 0..SIZE {
            for x in 0..SIZE {
                let (fx, fy) = (x as f64, y as f64);
                let mut v = if inside(fx, fy) { part } else { background };
                if scratch && inside(fx, fy) {
                    let (px, py) = (fx - cx, fy - cy);
                    let along = px * dx + py * dy;
                    let across = (px * dy - py * dx).abs();
                    if along.abs() <= half_len && across <= 0.75 {
                        v -= depth;
                    }
                }
                v += rng.range(-14.0, 14.0);
                pixels.push(v.clamp(0.0, 255.0) as u8);
            }
        }
        Self { pixels }
    }

    /// Binary PGM bytes.
    pub fn to_pgm(&self) -> Vec<u8> {
        let mut out = format!("P5\n{SIZE} {SIZE}\n255\n").into_bytes();
        out.extend_from_slice(&self.pixels);
        out
    }

    /// Parses a binary PGM of `SIZE × SIZE`, 8-bit.
    pub fn from_pgm(bytes: &[u8]) -> Result<Self, String> {
        let mut fields = Vec::new();
        let mut at = 0;
        while fields.len() < 4 {
            while at < bytes.len() && bytes[at].is_ascii_whitespace() {
                at += 1;
            }
            let start = at;
            while at < bytes.len() && !bytes[at].is_ascii_whitespace() {
                at += 1;
            }
            if start == at {
                return Err("truncated PGM header".into());
            }
            fields.push(String::from_utf8_lossy(&bytes[start..at]).into_owned());
        }
        let header = (
            fields[0].as_str(),
            fields[1].parse(),
            fields[2].parse(),
            fields[3].as_str(),
        );
        match header {
            ("P5", Ok(SIZE), Ok(SIZE), "255") => {}
            _ => {
                return Err(format!(
                    "not an 8-bit {SIZE}×{SIZE} binary PGM ({fields:?})"
                ));
            }
        }
        let pixels = bytes.get(at + 1..).unwrap_or_default();
        if pixels.len() != SIZE * SIZE {
            return Err(format!(
                "{} pixel bytes, expected {}",
                pixels.len(),
                SIZE * SIZE
            ));
        }
        Ok(Self {
            pixels: pixels.to_vec(),
        })
    }
}

/// Writes `count` images (about half with scratches) and `labels.csv` into `dir`.
pub fn generate(dir: &Path, seed: u64, count: usize) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let mut rng = Rng::new(seed);
    let mut labels = String::from("file,label\n");
    for i in 0..count {
        let scratch = rng.unit() < 0.5;
        let name = format!("part-{i:05}.pgm");
        std::fs::write(
            dir.join(&name),
            Image::synthetic(&mut rng, scratch).to_pgm(),
        )?;
        labels.push_str(&format!("{name},{}\n", u8::from(scratch)));
    }
    std::fs::write(dir.join("labels.csv"), labels)
}

/// Reads a channel directory written by [`generate`] (or any with the same layout).
pub fn load(dir: &Path) -> Result<Vec<(Image, bool)>, DataError> {
    let labels_path = dir.join("labels.csv");
    let labels = std::fs::read_to_string(&labels_path)
        .map_err(|e| DataError(format!("{}: {e}", labels_path.display())))?;
    let mut out = Vec::new();
    for (n, line) in labels.lines().enumerate().skip(1) {
        if line.trim().is_empty() {
            continue;
        }
        let at = || format!("{}:{}", labels_path.display(), n + 1);
        let (file, label) = line
            .split_once(',')
            .ok_or_else(|| DataError(format!("{}: expected `file,label`", at())))?;
        let scratch = match label.trim() {
            "0" => false,
            "1" => true,
            other => {
                return Err(DataError(format!(
                    "{}: label `{other}` is not 0 or 1",
                    at()
                )));
            }
        };
        let bytes = std::fs::read(dir.join(file.trim()))
            .map_err(|e| DataError(format!("{}: {file}: {e}", at())))?;
        let image = Image::from_pgm(&bytes).map_err(|e| DataError(format!("{file}: {e}")))?;
        out.push((image, scratch));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pgm_round_trips_and_rejects_other_shapes() {
        let img = Image::synthetic(&mut Rng::new(3), true);
        assert_eq!(Image::from_pgm(&img.to_pgm()), Ok(img));
        assert!(
            Image::from_pgm(b"P5\n16 16\n255\n")
                .unwrap_err()
                .contains("32×32")
        );
        assert!(
            Image::from_pgm(b"P5\n32")
                .unwrap_err()
                .contains("truncated")
        );
    }

    #[test]
    fn generated_sets_load_back_with_their_labels() {
        let dir = std::env::temp_dir().join(format!("defect-trainer-{}", std::process::id()));
        generate(&dir, 11, 20).unwrap();
        let set = load(&dir).unwrap();
        assert_eq!(set.len(), 20);
        let scratched = set.iter().filter(|(_, s)| *s).count();
        assert!((3..=17).contains(&scratched), "{scratched}");
        std::fs::write(dir.join("labels.csv"), "file,label\npart-00000.pgm,7\n").unwrap();
        assert!(load(&dir).unwrap_err().0.contains("label `7`"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
