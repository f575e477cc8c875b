//! Live progress of a training run: epoch, split, position, ETA and the latest loss parts,
//! learning rate and throughput. A bar on a terminal; a line every tenth of a split otherwise
//! (logs, CI).

use std::collections::HashMap;
use std::io::IsTerminal;
use std::time::Instant;

use burn::train::logger::TrainingProgressLogger;
use burn::train::metric::{MetricDefinition, MetricId};
use burn::train::renderer::{
    EvaluationName, MetricState, MetricsRenderer, MetricsRendererEvaluation,
    MetricsRendererTraining,
};
use indicatif::{ProgressBar, ProgressStyle};

use ssdface::train::names;

/// Renders burn-train's progress events on standard error.
pub struct ProgressRenderer {
    names: HashMap<MetricId, String>,
    latest: HashMap<String, f64>,
    epoch: usize,
    epochs: usize,
    split: String,
    total: usize,
    started: Instant,
    bar: Option<ProgressBar>,
    last_line: usize,
}

impl Default for ProgressRenderer {
    fn default() -> Self {
        Self {
            names: HashMap::new(),
            latest: HashMap::new(),
            epoch: 0,
            epochs: 0,
            split: String::new(),
            total: 0,
            started: Instant::now(),
            bar: None,
            last_line: 0,
        }
    }
}

impl ProgressRenderer {
    fn record(&mut self, state: MetricState) {
        if let MetricState::Numeric(entry, Some(value)) = state
            && let Some(name) = self.names.get(&entry.metric_id)
        {
            self.latest.insert(name.clone(), value.current());
        }
    }

    fn summary(&self) -> String {
        let get = |name: &str| self.latest.get(name).copied();
        let mut parts = Vec::new();
        if let Some(loss) = get(names::LOSS) {
            parts.push(format!("loss {loss:.3}"));
        }
        if let (Some(loc), Some(conf)) = (get(names::LOCATION), get(names::CONFIDENCE)) {
            parts.push(format!("(location {loc:.3}, confidence {conf:.3})"));
        }
        if self.split == "train" {
            if let Some(lr) = get(names::LEARNING_RATE) {
                parts.push(format!("lr {lr:.2e}"));
            }
            if let Some(speed) = get(names::IMAGES_PER_SECOND) {
                parts.push(format!("{speed:.1} img/s"));
            }
        }
        parts.join(" ")
    }
}

impl MetricsRendererTraining for ProgressRenderer {
    fn update_train(&mut self, state: MetricState) {
        self.record(state)
    }
    fn update_valid(&mut self, state: MetricState) {
        self.record(state)
    }
}

impl MetricsRendererEvaluation for ProgressRenderer {
    fn update_test(&mut self, _: EvaluationName, state: MetricState) {
        self.record(state)
    }
}

impl MetricsRenderer for ProgressRenderer {
    fn manual_close(&mut self) {}
    fn register_metric(&mut self, definition: MetricDefinition) {
        self.names
            .insert(definition.metric_id, definition.name.to_string());
    }
}

impl TrainingProgressLogger for ProgressRenderer {
    fn start(&mut self, epochs: usize, starting_epoch: usize, _: Option<usize>, _: Option<&str>) {
        self.epochs = epochs;
        self.epoch = starting_epoch;
    }

    fn update_epoch(&mut self, finished: usize) {
        self.epoch = finished + 1;
    }

    fn start_split(&mut self, split: &str, total: usize) {
        self.split = split.to_string();
        self.total = total;
        self.started = Instant::now();
        self.last_line = 0;
        self.latest.clear();
        if std::io::stderr().is_terminal() {
            let bar = ProgressBar::new(total as u64);
            bar.set_style(
                ProgressStyle::with_template(
                    "{prefix} {bar:25} {pos}/{len} eta {eta:>4} {wide_msg}",
                )
                .expect("valid template"),
            );
            bar.set_prefix(format!("epoch {}/{} {split:5}", self.epoch, self.epochs));
            self.bar = Some(bar);
        }
    }

    fn update_split(&mut self, done: usize) {
        let summary = self.summary();
        match &self.bar {
            Some(bar) => {
                bar.set_position(done as u64);
                bar.set_message(summary);
            }
            None => {
                // Without a terminal: about ten lines per split.
                let tenth = (self.total / 10).max(1);
                if done >= self.last_line + tenth || done == self.total {
                    self.last_line = done;
                    let elapsed = self.started.elapsed().as_secs_f64();
                    let eta =
                        elapsed / done.max(1) as f64 * (self.total - done.min(self.total)) as f64;
                    eprintln!(
                        "epoch {}/{} {} {done}/{} eta {eta:.0}s {summary}",
                        self.epoch, self.epochs, self.split, self.total
                    );
                }
            }
        }
    }

    fn end_split(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }

    fn end(&mut self) {}

    fn log_event_training(&mut self, _: String) {
        // burn-train's events (one per iteration) go to experiment.log already.
    }
}

ssdface::no_evaluation_progress!(ProgressRenderer);
