//! The learning-rate schedule: linear warm-up, cosine decay to the floor, and a factor that
//! reduce-on-plateau lowers when the validation loss stalls ([`PlateauFactor`]: burn's
//! schedulers cannot see metrics, so the epoch-end policy lowers it and the schedule reads it).

use std::f64::consts::PI;
use std::sync::{Arc, Mutex};

use burn::lr_scheduler::{LrScheduler, LrSchedulerRecord};
use burn::optim::LearningRate;

/// The factor on the learning rate that reduce-on-plateau lowers: the one channel between the
/// epoch-end policy (`policy.rs`), which sees the validation loss and decides, and the
/// schedule, which burn-train's learner owns and calls every step. One handle, cloned into
/// both when the run is built; the schedule's checkpoint records its value.
#[derive(Clone, Debug)]
pub struct PlateauFactor(Arc<Mutex<f64>>);

impl PlateauFactor {
    /// A factor starting at `value` (1: the schedule as planned).
    pub fn new(value: f64) -> Self {
        Self(Arc::new(Mutex::new(value)))
    }

    /// The current factor.
    pub fn get(&self) -> f64 {
        *self.0.lock().expect("plateau factor lock")
    }

    /// Sets the factor (the policy lowering it, or a checkpoint restoring it).
    pub fn set(&self, value: f64) {
        *self.0.lock().expect("plateau factor lock") = value;
    }
}

/// Warm-up, cosine decay and the plateau factor.
#[derive(Clone, Debug)]
pub struct DetectorSchedule {
    peak: f64,
    floor: f64,
    warmup_steps: usize,
    total_steps: usize,
    step: usize,
    plateau_factor: PlateauFactor,
}

impl DetectorSchedule {
    /// A schedule peaking at `peak` after `warmup_steps`, decaying to `floor` at `total_steps`,
    /// scaled by `plateau_factor` (which the epoch-end policy lowers).
    pub fn new(
        peak: f64,
        floor: f64,
        warmup_steps: usize,
        total_steps: usize,
        plateau_factor: PlateauFactor,
    ) -> Self {
        Self {
            peak,
            floor,
            warmup_steps,
            total_steps: total_steps.max(warmup_steps + 1),
            step: 0,
            plateau_factor,
        }
    }

    /// The rate at step `step` (1-based) with the current plateau factor.
    pub fn rate_at(&self, step: usize) -> f64 {
        let base = if step <= self.warmup_steps && self.warmup_steps > 0 {
            self.peak * (0.01 + 0.99 * step as f64 / self.warmup_steps as f64)
        } else {
            let progress =
                (step - self.warmup_steps) as f64 / (self.total_steps - self.warmup_steps) as f64;
            self.floor + 0.5 * (self.peak - self.floor) * (1.0 + (PI * progress.min(1.0)).cos())
        };
        (base * self.plateau_factor.get()).max(self.floor)
    }
}

impl LrScheduler for DetectorSchedule {
    fn step(&mut self) -> LearningRate {
        self.step += 1;
        self.rate_at(self.step)
    }

    fn to_record(&self) -> LrSchedulerRecord {
        LrSchedulerRecord::new()
            .with_scalar("step", self.step)
            .with_scalar("plateau_factor", self.plateau_factor.get())
    }

    fn load_record(&mut self, record: LrSchedulerRecord) {
        if let Some(step) = record.scalar::<usize>("step") {
            self.step = step;
        }
        if let Some(factor) = record.scalar::<f64>("plateau_factor") {
            self.plateau_factor.set(factor);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warms_up_decays_and_follows_the_plateau_factor() {
        let factor = PlateauFactor::new(1.0);
        let mut schedule = DetectorSchedule::new(1e-3, 1e-5, 10, 110, factor.clone());
        let rates: Vec<f64> = (0..110).map(|_| schedule.step()).collect();
        assert!((rates[0] - 1e-3 * (0.01 + 0.099)).abs() < 1e-12);
        assert!((rates[9] - 1e-3).abs() < 1e-12, "peak after warm-up");
        assert!(
            rates[10..].windows(2).all(|w| w[1] <= w[0]),
            "decay is monotone"
        );
        assert!((rates[109] - 1e-5).abs() < 1e-12, "ends at the floor");
        factor.set(0.1);
        assert!((schedule.rate_at(10) - 1e-4).abs() < 1e-12);
        assert_eq!(schedule.rate_at(109), 1e-5, "never below the floor");
    }

    #[test]
    fn record_round_trip_restores_step_and_factor() {
        let factor = PlateauFactor::new(0.1);
        let mut schedule = DetectorSchedule::new(1e-3, 1e-5, 10, 110, factor);
        for _ in 0..37 {
            schedule.step();
        }
        let record = schedule.to_record();
        let fresh_factor = PlateauFactor::new(1.0);
        let mut fresh = DetectorSchedule::new(1e-3, 1e-5, 10, 110, fresh_factor.clone());
        fresh.load_record(record);
        assert_eq!(fresh_factor.get(), 0.1);
        assert_eq!(fresh.step(), schedule.step());
    }
}
