//! The realised order of scheduling events in one run: trapped system
//! calls, signals, thread and process starts and ends, and what the
//! schedule did at each. Only the most recent events are kept; a finding
//! carries the last few before it.

use crate::SchedEvent;
use std::collections::VecDeque;
use std::time::Instant;

/// How many events are kept.
const KEPT: usize = 256;
/// How many a finding shows.
pub const SHOWN: usize = 16;

/// A bounded log of events.
pub struct Journal {
    start: Instant,
    events: VecDeque<SchedEvent>,
}

impl Journal {
    /// An empty journal; times are measured from `start`.
    pub fn new(start: Instant) -> Journal {
        Journal {
            start,
            events: VecDeque::with_capacity(KEPT),
        }
    }

    /// Records an event (what the schedule does there is added with
    /// [`Journal::held`]).
    pub fn record(&mut self, pid: i32, tid: i32, what: String) {
        if self.events.len() == KEPT {
            self.events.pop_front();
        }
        self.events.push_back(SchedEvent {
            at_us: self.start.elapsed().as_micros() as u64,
            pid,
            tid,
            what,
            held_us: None,
        });
    }

    /// Notes that the schedule held the last event's thread for `us`.
    pub fn held(&mut self, us: u64) {
        if let Some(e) = self.events.back_mut() {
            e.held_us = Some(e.held_us.unwrap_or(0) + us);
        }
    }

    /// The last [`SHOWN`] events, oldest first.
    pub fn recent(&self) -> Vec<SchedEvent> {
        let skip = self.events.len().saturating_sub(SHOWN);
        self.events.iter().skip(skip).cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_most_recent_events_in_order() {
        let mut j = Journal::new(Instant::now());
        for i in 0..1000 {
            j.record(1, 1, format!("event {i}"));
        }
        j.held(250);
        let r = j.recent();
        assert_eq!(r.len(), SHOWN);
        assert_eq!(r[0].what, format!("event {}", 1000 - SHOWN));
        assert_eq!(r.last().unwrap().what, "event 999");
        assert_eq!(r.last().unwrap().held_us, Some(250));
        assert!(r.windows(2).all(|w| w[0].at_us <= w[1].at_us));
    }
}
