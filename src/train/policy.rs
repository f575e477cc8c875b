//! What happens after each epoch's checkpoint: record the metrics, draw the curves, lower the
//! learning rate on a plateau, and decide whether to stop (early stopping, NaN loss, time
//! limit). Plugged into burn-train as its early-stopping strategy, which is called right after
//! the epoch's checkpoint is written.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use burn::train::metric::store::{Aggregate, EventStoreClient, Split};
use burn::train::{EarlyStoppingStrategy, Interrupter};

use super::checkpoint::checkpoint_complete;
use super::config::TrainConfig;
use super::history::{EpochRecord, History};
use super::metrics::names;
use super::report::{MessageSink, RunMessage};
use super::schedule::PlateauFactor;
use crate::plots::{Chart, PlotError, Series, line_chart};

/// Longest wait for an epoch's checkpoint to be written before its history is.
const CHECKPOINT_WAIT: Duration = Duration::from_secs(300);

/// Shared between the policy (which burn-train clones) and the code that launched the run.
#[derive(Debug)]
pub struct PolicyState {
    /// The run folder.
    pub run: PathBuf,
    /// The epochs so far.
    pub history: History,
    /// Stop before an epoch that would end after this instant.
    pub deadline: Option<Instant>,
    /// When the current epoch started.
    pub epoch_started: Instant,
    /// Early-stopping patience, plateau settings and the improvement threshold.
    pub early_stopping_patience: usize,
    /// Epochs without improvement before the learning rate is lowered.
    pub plateau_patience: usize,
    /// What the learning rate is multiplied by on a plateau.
    pub plateau_factor: f64,
    /// Smallest decrease of the validation loss that counts.
    pub min_delta: f64,
}

/// The epoch-end policy.
#[derive(Clone)]
pub struct EpochEndPolicy {
    state: Arc<Mutex<PolicyState>>,
    lr_factor: PlateauFactor,
    say: MessageSink,
    /// The run's interrupter, where a checkpoint that failed (a full disk) is recorded.
    interrupter: Interrupter,
}

impl EpochEndPolicy {
    /// A policy continuing `history`, lowering `lr_factor` (which the schedule reads).
    pub fn new(
        run: PathBuf,
        history: History,
        config: &TrainConfig,
        deadline: Option<Instant>,
        lr_factor: PlateauFactor,
        say: MessageSink,
        interrupter: Interrupter,
    ) -> Self {
        lr_factor.set(history.plateau_factor);
        Self {
            state: Arc::new(Mutex::new(PolicyState {
                run,
                history,
                deadline,
                epoch_started: Instant::now(),
                early_stopping_patience: config.early_stopping_patience,
                plateau_patience: config.plateau_patience,
                plateau_factor: config.plateau_factor,
                min_delta: config.min_delta,
            })),
            lr_factor,
            say,
            interrupter,
        }
    }

    /// The history as it stands.
    pub fn history(&self) -> History {
        self.state.lock().expect("policy lock").history.clone()
    }
}

fn metric(store: &EventStoreClient, name: &str, epoch: usize, split: Split) -> f64 {
    store
        .find_metric(name, epoch, Aggregate::Mean, &split)
        .unwrap_or(f64::NAN)
}

impl EarlyStoppingStrategy for EpochEndPolicy {
    fn should_stop(&mut self, epoch: usize, store: &EventStoreClient) -> bool {
        let mut state = self.state.lock().expect("policy lock");
        let record = EpochRecord {
            epoch,
            train_loss: metric(store, names::LOSS, epoch, Split::Train),
            train_location: metric(store, names::LOCATION, epoch, Split::Train),
            train_confidence: metric(store, names::CONFIDENCE, epoch, Split::Train),
            val_loss: metric(store, names::LOSS, epoch, Split::Valid),
            val_location: metric(store, names::LOCATION, epoch, Split::Valid),
            val_confidence: metric(store, names::CONFIDENCE, epoch, Split::Valid),
            val_ap: metric(store, names::AP, epoch, Split::Valid),
            learning_rate: metric(store, names::LEARNING_RATE, epoch, Split::Train),
            images_per_second: metric(store, names::IMAGES_PER_SECOND, epoch, Split::Train),
            seconds: state.epoch_started.elapsed().as_secs_f64(),
        };
        let epoch_time = Duration::from_secs_f64(record.seconds);
        let val_loss = record.val_loss;
        let (delta, patience, factor) = (
            state.min_delta,
            state.plateau_patience,
            state.plateau_factor,
        );
        let lowered = state.history.record(record, delta, patience, factor);
        if lowered {
            self.lr_factor.set(state.history.plateau_factor);
            (self.say)(RunMessage::LearningRateLowered { patience, factor });
        }

        let stop = if !val_loss.is_finite() {
            Some(format!(
                "the validation loss is {val_loss} at epoch {epoch}; the last good checkpoint is \
                 epoch {}",
                epoch.saturating_sub(1)
            ))
        } else if state.history.stale_epochs >= state.early_stopping_patience {
            Some(format!(
                "early stopping: the validation loss has not improved for {} epochs",
                state.history.stale_epochs
            ))
        } else if let Some(deadline) = state.deadline
            && Instant::now() + epoch_time > deadline
        {
            Some(format!(
                "time limit: another epoch (about {:.0} s) would end after --max-minutes; resume \
                 with --resume",
                epoch_time.as_secs_f64()
            ))
        } else {
            None
        };
        state.history.stopped = stop.clone();
        // burn-train writes the epoch's checkpoint on another thread, started just before this
        // call; the history must not name an epoch whose checkpoint is not whole yet, or a
        // kill in between would make a resume repeat that epoch. A checkpoint that failed
        // (a full disk) is never whole: the run stops at once, its history at the epoch before,
        // from which it resumes.
        let patience = Instant::now() + CHECKPOINT_WAIT;
        while !checkpoint_complete(&state.run, epoch) && Instant::now() < patience {
            if self.interrupter.error().is_some() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        if let Err(e) = state.history.save(&state.run) {
            (self.say)(RunMessage::HistoryNotWritten(e.to_string()));
        }
        if let Err(e) = draw_curves(&state.run, &state.history) {
            (self.say)(RunMessage::CurvesNotDrawn(e.to_string()));
        }
        state.epoch_started = Instant::now();
        if let Some(reason) = &stop {
            (self.say)(RunMessage::Stopping {
                epoch,
                reason: reason.clone(),
            });
        }
        stop.is_some()
    }
}

/// `loss.png`, `learning_rate.png` and `val_ap.png` in the run folder.
pub fn draw_curves(run: &std::path::Path, history: &History) -> Result<(), PlotError> {
    let series = |name, f: fn(&EpochRecord) -> f64| Series {
        name,
        points: history
            .epochs
            .iter()
            .map(|e| (e.epoch as f64, f(e)))
            .collect(),
    };
    line_chart(
        &run.join("loss.png"),
        &Chart {
            title: "Loss",
            x_label: "epoch",
            y_label: "loss",
            log_y: false,
            fixed_range: None,
        },
        &[
            series("train", |e| e.train_loss),
            series("validation", |e| e.val_loss),
            series("train location", |e| e.train_location),
            series("train confidence", |e| e.train_confidence),
            series("validation location", |e| e.val_location),
            series("validation confidence", |e| e.val_confidence),
        ],
    )?;
    line_chart(
        &run.join("learning_rate.png"),
        &Chart {
            title: "Learning rate",
            x_label: "epoch",
            y_label: "learning rate",
            log_y: true,
            fixed_range: None,
        },
        &[series("learning rate", |e| e.learning_rate)],
    )?;
    line_chart(
        &run.join("val_ap.png"),
        &Chart {
            title: "Validation AP (IoU 0.5)",
            x_label: "epoch",
            y_label: "AP",
            log_y: false,
            fixed_range: None,
        },
        &[series("AP", |e| e.val_ap)],
    )
}
