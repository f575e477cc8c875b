//! The run's own record of its epochs: `history.json` (what resuming needs: per-epoch metrics,
//! plateau and early-stopping counters) and `metrics.csv` (the same metrics for people and
//! spreadsheets). Both are rewritten atomically after every epoch.

use std::path::Path;

use serde::{Deserialize, Serialize};

/// Metrics of one finished epoch.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    /// 1-based epoch.
    pub epoch: usize,
    /// Mean training loss.
    pub train_loss: f64,
    /// Mean training box-regression loss.
    pub train_location: f64,
    /// Mean training classification loss.
    pub train_confidence: f64,
    /// Mean validation loss.
    pub val_loss: f64,
    /// Mean validation box-regression loss.
    pub val_location: f64,
    /// Mean validation classification loss.
    pub val_confidence: f64,
    /// Validation AP (IoU 0.5, all sizes).
    pub val_ap: f64,
    /// Learning rate at the end of the epoch.
    pub learning_rate: f64,
    /// Training throughput.
    pub images_per_second: f64,
    /// Wall time of the epoch, training and validation.
    pub seconds: f64,
}

/// Everything the epoch-end policy decides from, kept across sessions.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct History {
    /// Finished epochs, in order.
    pub epochs: Vec<EpochRecord>,
    /// Lowest validation loss so far.
    pub best_val_loss: f64,
    /// Epochs since the validation loss last improved by at least `min_delta` (early stopping).
    pub stale_epochs: usize,
    /// Epochs since the plateau factor last changed or the loss improved.
    pub plateau_epochs: usize,
    /// Multiplier of the learning rate set by reduce-on-plateau.
    pub plateau_factor: f64,
    /// Epoch with the best validation AP.
    pub best_ap_epoch: Option<usize>,
    /// Why the run stopped, once it has.
    pub stopped: Option<String>,
}

impl Default for History {
    fn default() -> Self {
        Self {
            epochs: Vec::new(),
            best_val_loss: f64::INFINITY,
            stale_epochs: 0,
            plateau_epochs: 0,
            plateau_factor: 1.0,
            best_ap_epoch: None,
            stopped: None,
        }
    }
}

/// File name of the history in a run folder.
pub const HISTORY_FILE: &str = "history.json";
/// File name of the metrics table in a run folder.
pub const METRICS_FILE: &str = "metrics.csv";

impl History {
    /// Read a run's history; a run that has finished no epoch has none yet.
    pub fn load(run: &Path) -> std::io::Result<Self> {
        let path = run.join(HISTORY_FILE);
        if !path.exists() {
            return Ok(Self::default());
        }
        let text = std::fs::read_to_string(&path)?;
        serde_json::from_str(&text).map_err(|e| {
            std::io::Error::other(format!("{} is not a training history: {e}", path.display()))
        })
    }

    /// Write `history.json` and `metrics.csv` atomically.
    pub fn save(&self, run: &Path) -> std::io::Result<()> {
        let json = serde_json::to_string_pretty(self).map_err(std::io::Error::other)?;
        crate::files::atomic_write(&run.join(HISTORY_FILE), json.as_bytes())?;
        crate::files::atomic_write(&run.join(METRICS_FILE), self.csv().as_bytes())
    }

    /// The epochs as CSV with a header line.
    pub fn csv(&self) -> String {
        let mut out = String::from(
            "epoch,train_loss,train_location,train_confidence,val_loss,val_location,\
             val_confidence,val_ap,learning_rate,images_per_second,seconds\n",
        );
        for e in &self.epochs {
            out.push_str(&format!(
                "{},{:.6},{:.6},{:.6},{:.6},{:.6},{:.6},{:.6},{:.3e},{:.2},{:.1}\n",
                e.epoch,
                e.train_loss,
                e.train_location,
                e.train_confidence,
                e.val_loss,
                e.val_location,
                e.val_confidence,
                e.val_ap,
                e.learning_rate,
                e.images_per_second,
                e.seconds
            ));
        }
        out
    }

    /// Keep only the epochs up to `epoch` (resuming from an earlier checkpoint).
    pub fn truncate_to(&mut self, epoch: usize) {
        self.epochs.retain(|e| e.epoch <= epoch);
    }

    /// Add an epoch and update the plateau and early-stopping counters.
    ///
    /// Returns `true` when the plateau factor was lowered.
    pub fn record(
        &mut self,
        record: EpochRecord,
        min_delta: f64,
        plateau_patience: usize,
        plateau_factor: f64,
    ) -> bool {
        if record.val_loss < self.best_val_loss - min_delta {
            self.best_val_loss = record.val_loss;
            self.stale_epochs = 0;
            self.plateau_epochs = 0;
        } else {
            self.stale_epochs += 1;
            self.plateau_epochs += 1;
        }
        let best_ap = self
            .best_ap_epoch
            .and_then(|e| self.epochs.iter().find(|r| r.epoch == e))
            .map_or(f64::NEG_INFINITY, |r| r.val_ap);
        if record.val_ap > best_ap {
            self.best_ap_epoch = Some(record.epoch);
        }
        self.epochs.push(record);
        if self.plateau_epochs >= plateau_patience {
            self.plateau_epochs = 0;
            self.plateau_factor *= plateau_factor;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn epoch(epoch: usize, val_loss: f64, val_ap: f64) -> EpochRecord {
        EpochRecord {
            epoch,
            val_loss,
            val_ap,
            ..EpochRecord::default()
        }
    }

    #[test]
    fn plateau_and_early_stopping_counters() {
        let mut history = History::default();
        assert!(!history.record(epoch(1, 5.0, 0.1), 0.01, 2, 0.1));
        assert!(!history.record(epoch(2, 4.0, 0.3), 0.01, 2, 0.1));
        // Improvements under min_delta do not count.
        assert!(!history.record(epoch(3, 3.995, 0.2), 0.01, 2, 0.1));
        assert!(
            history.record(epoch(4, 4.5, 0.2), 0.01, 2, 0.1),
            "lowered after 2 stale epochs"
        );
        assert_eq!(history.plateau_factor, 0.1);
        assert_eq!(history.stale_epochs, 2);
        assert_eq!(history.best_ap_epoch, Some(2));
        assert!(!history.record(epoch(5, 3.0, 0.5), 0.01, 2, 0.1));
        assert_eq!((history.stale_epochs, history.best_ap_epoch), (0, Some(5)));
    }

    #[test]
    fn saves_and_loads_atomically_written_files() {
        let dir = std::env::temp_dir().join("ssdface-history-test");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        assert_eq!(History::load(&dir).unwrap(), History::default());
        let mut history = History::default();
        history.record(epoch(1, 2.0, 0.25), 0.0, 5, 0.1);
        history.save(&dir).unwrap();
        assert_eq!(History::load(&dir).unwrap(), history);
        let csv = std::fs::read_to_string(dir.join(METRICS_FILE)).unwrap();
        assert_eq!(csv.lines().count(), 2);
        assert!(csv.lines().nth(1).unwrap().starts_with("1,"));
    }
}
