//! The classifier: features standardised, one hidden ReLU layer, a sigmoid output, trained by
//! minibatch SGD on binary cross-entropy. Small enough to train in seconds, real enough to
//! show learning curves, checkpoints and gates.

use serde::{Deserialize, Serialize};

use crate::rng::Rng;

/// Weights and the feature scaling they were trained with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Model {
    /// Per-feature mean of the training set.
    pub mean: Vec<f64>,
    /// Per-feature standard deviation of the training set (never 0).
    pub std: Vec<f64>,
    /// Hidden layer, `hidden × inputs`.
    pub w1: Vec<Vec<f64>>,
    /// Hidden biases.
    pub b1: Vec<f64>,
    /// Output weights.
    pub w2: Vec<f64>,
    /// Output bias.
    pub b2: f64,
}

/// Loss and accuracy over a set.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Score {
    /// Mean binary cross-entropy.
    pub loss: f64,
    /// Share classified right at 0.5.
    pub accuracy: f64,
}

impl Model {
    /// A fresh model for `train` (features, label), with `hidden` units, initialised from `rng`.
    pub fn new(train: &[(Vec<f64>, bool)], hidden: usize, rng: &mut Rng) -> Self {
        let inputs = train.first().map_or(0, |(x, _)| x.len());
        let n = train.len().max(1) as f64;
        let mean: Vec<f64> = (0..inputs)
            .map(|i| train.iter().map(|(x, _)| x[i]).sum::<f64>() / n)
            .collect();
        let std = (0..inputs)
            .map(|i| {
                let var = train
                    .iter()
                    .map(|(x, _)| (x[i] - mean[i]).powi(2))
                    .sum::<f64>()
                    / n;
                var.sqrt().max(1e-6)
            })
            .collect();
        let scale = (2.0 / inputs.max(1) as f64).sqrt();
        Self {
            mean,
            std,
            w1: (0..hidden)
                .map(|_| (0..inputs).map(|_| rng.range(-scale, scale)).collect())
                .collect(),
            b1: vec![0.0; hidden],
            w2: (0..hidden).map(|_| rng.range(-0.5, 0.5)).collect(),
            b2: 0.0,
        }
    }

    fn hidden(&self, x: &[f64]) -> Vec<f64> {
        self.w1
            .iter()
            .zip(&self.b1)
            .map(|(w, b)| {
                let z: f64 = w
                    .iter()
                    .zip(x.iter().zip(self.mean.iter().zip(&self.std)))
                    .map(|(w, (x, (m, s)))| w * (x - m) / s)
                    .sum();
                (z + b).max(0.0)
            })
            .collect()
    }

    /// Probability of a scratch.
    pub fn predict(&self, x: &[f64]) -> f64 {
        let h = self.hidden(x);
        sigmoid(h.iter().zip(&self.w2).map(|(h, w)| h * w).sum::<f64>() + self.b2)
    }

    /// One epoch of minibatch SGD over `train` (shuffled by `rng`); returns the mean loss.
    pub fn epoch(
        &mut self,
        train: &[(Vec<f64>, bool)],
        lr: f64,
        batch: usize,
        rng: &mut Rng,
    ) -> f64 {
        let mut order: Vec<usize> = (0..train.len()).collect();
        rng.shuffle(&mut order);
        let mut total = 0.0;
        for chunk in order.chunks(batch.max(1)) {
            let (hidden, inputs) = (self.w1.len(), self.mean.len());
            let mut g1 = vec![vec![0.0; inputs]; hidden];
            let mut gb1 = vec![0.0; hidden];
            let mut g2 = vec![0.0; hidden];
            let mut gb2 = 0.0;
            for &i in chunk {
                let (x, y) = &train[i];
                let xs: Vec<f64> = (0..inputs)
                    .map(|k| (x[k] - self.mean[k]) / self.std[k])
                    .collect();
                let h = self.hidden(x);
                let p = sigmoid(h.iter().zip(&self.w2).map(|(h, w)| h * w).sum::<f64>() + self.b2);
                total += bce(p, *y);
                let dz = p - f64::from(u8::from(*y));
                gb2 += dz;
                for j in 0..hidden {
                    g2[j] += dz * h[j];
                    if h[j] > 0.0 {
                        let dh = dz * self.w2[j];
                        gb1[j] += dh;
                        for (g, x) in g1[j].iter_mut().zip(&xs) {
                            *g += dh * x;
                        }
                    }
                }
            }
            let step = lr / chunk.len() as f64;
            for j in 0..hidden {
                self.w2[j] -= step * g2[j];
                self.b1[j] -= step * gb1[j];
                for (w, g) in self.w1[j].iter_mut().zip(&g1[j]) {
                    *w -= step * g;
                }
            }
            self.b2 -= step * gb2;
        }
        total / train.len().max(1) as f64
    }

    /// Loss and accuracy on `set`.
    pub fn score(&self, set: &[(Vec<f64>, bool)]) -> Score {
        let n = set.len().max(1) as f64;
        let (loss, right) = set.iter().fold((0.0, 0usize), |(l, r), (x, y)| {
            let p = self.predict(x);
            (l + bce(p, *y), r + usize::from((p >= 0.5) == *y))
        });
        Score {
            loss: loss / n,
            accuracy: right as f64 / n,
        }
    }
}

fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

fn bce(p: f64, y: bool) -> f64 {
    let p = p.clamp(1e-9, 1.0 - 1e-9);
    if y { -p.ln() } else { -(1.0 - p).ln() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn it_learns_a_separable_set() {
        let mut rng = Rng::new(1);
        let set: Vec<(Vec<f64>, bool)> = (0..200)
            .map(|_| {
                let y = rng.unit() < 0.5;
                let x = if y { 1.0 } else { -1.0 } + rng.range(-0.5, 0.5);
                (vec![x, rng.unit()], y)
            })
            .collect();
        let mut m = Model::new(&set, 4, &mut rng);
        let before = m.score(&set).loss;
        for _ in 0..20 {
            m.epoch(&set, 0.1, 16, &mut rng);
        }
        let after = m.score(&set);
        assert!(after.loss < before, "{} !< {before}", after.loss);
        assert!(after.accuracy > 0.95, "{}", after.accuracy);
    }
}
