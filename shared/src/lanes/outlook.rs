use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use super::{minutes, window, Journey, LaneKey, LaneStats, Prior, Route, Stage, MIN_SAMPLES};
use crate::calibration::Calibration;
use crate::domain::Shipment;
use crate::pace::Moments;
use crate::ports::{LaneQuery, StoreError};
use crate::sketch::{Cumulative, Sketch};

/// Where an estimate comes from: a lane level (its label and how many parcels it
/// learned from), or the prior.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Source {
    pub lane: Option<String>,
    pub samples: i64,
}

/// What is known for one parcel's lane: the learned levels (most specific
/// first) and the prior.
#[derive(Clone, Debug)]
pub struct LaneView {
    pub levels: Vec<(LaneKey, std::sync::Arc<LaneStats>)>,
    pub prior: Prior,
}

/// Estimated delivery: the times by which the parcel is delivered with
/// probability one half and nine tenths.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Eta {
    pub p50: DateTime<Utc>,
    pub p90: DateTime<Utc>,
    pub stage: Stage,
    #[serde(flatten)]
    pub source: Source,
}

impl Eta {
    /// As the api, the console and `sentinel track --json` give it: times in
    /// China time with their offset; `lane` is null and `samples` 0 when the
    /// estimate comes from the published figures.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "p50": crate::time::rfc3339(self.p50),
            "p90": crate::time::rfc3339(self.p90),
            "stage": self.stage.as_str(),
            "lane": self.source.lane,
            "samples": self.source.samples,
        })
    }
}

impl LaneView {
    /// What `store` has learned about `shipment`'s lane, or, when the store
    /// cannot say, what the published figures say (the estimate is advisory: a
    /// failed read is logged, not passed on).
    pub async fn load_or_prior<S: LaneQuery>(
        store: &S,
        shipment: &Shipment,
        now: DateTime<Utc>,
    ) -> LaneView {
        match LaneView::load(store, shipment, now).await {
            Ok(view) => view,
            Err(e) => {
                tracing::warn!(error = %e, "lane statistics unreadable; the ETA uses the published figures");
                LaneView::prior_only(shipment)
            }
        }
    }

    /// What `store` has learned about `shipment`'s lane, at every level, over the
    /// weeks read at `now`: one read (an empty [`LaneCache`] reads every level).
    pub async fn load<S: LaneQuery>(
        store: &S,
        shipment: &Shipment,
        now: DateTime<Utc>,
    ) -> Result<LaneView, StoreError> {
        LaneCache::default().get(store, shipment, now).await
    }

    /// A view that knows only the prior (nothing learned yet, or no store to ask).
    pub fn prior_only(shipment: &Shipment) -> LaneView {
        LaneView {
            levels: Vec::new(),
            prior: Prior::of(&shipment.id.carrier, &Route::of(shipment)),
        }
    }

    /// The most specific sketch of `pick` with enough samples, else the prior's.
    /// The carrier level, which mixes every class of lane, stands in only for a
    /// parcel whose class is unknown: for one whose class is known, the prior of
    /// that class does better.
    fn best(
        &self,
        pick: impl Fn(&LaneStats) -> Option<&Sketch>,
        prior: impl FnOnce() -> Sketch,
    ) -> (Sketch, Source) {
        self.learned(pick, MIN_SAMPLES).unwrap_or_else(|| {
            (
                prior(),
                Source {
                    lane: None,
                    samples: 0,
                },
            )
        })
    }

    /// The most specific learned sketch of `pick` with at least `min` samples.
    fn learned(
        &self,
        pick: impl Fn(&LaneStats) -> Option<&Sketch>,
        min: i64,
    ) -> Option<(Sketch, Source)> {
        self.learned_at(pick, min)
            .map(|(_, sketch, source)| (sketch.clone(), source))
    }

    /// The learned levels, most specific first, that may answer: the carrier
    /// level only when the lane class is unknown.
    fn trusted_levels(&self) -> impl Iterator<Item = &(LaneKey, std::sync::Arc<LaneStats>)> {
        let class_known = self
            .levels
            .iter()
            .any(|(k, _)| matches!(k, LaneKey::Class { .. }));
        self.levels
            .iter()
            .filter(move |(key, _)| !(class_known && matches!(key, LaneKey::Carrier(_))))
    }

    /// The gaps within `stage` of one kind, from the most specific level with at
    /// least `min` of them: legs (begun at a departure scan) when `leg`, else
    /// waits (the rest); `None` when no level has that many.
    pub fn learned_gaps_of(&self, stage: Stage, leg: bool, min: i64) -> Option<(Sketch, Source)> {
        self.trusted_levels().find_map(|(key, stats)| {
            let all = stats.gaps.get(&stage)?;
            let legs = stats.legs.get(&stage);
            let sketch = if leg {
                legs?.clone()
            } else {
                match legs {
                    Some(legs) => all.without(legs),
                    None => all.clone(),
                }
            };
            let samples = sketch.total();
            (samples >= min).then(|| {
                (
                    sketch,
                    Source {
                        lane: Some(key.label()),
                        samples,
                    },
                )
            })
        })
    }

    /// [`Self::learned`], with the level's statistics it came from.
    fn learned_at<'a>(
        &'a self,
        pick: impl Fn(&'a LaneStats) -> Option<&'a Sketch>,
        min: i64,
    ) -> Option<(&'a LaneStats, &'a Sketch, Source)> {
        self.trusted_levels().find_map(|(key, stats)| {
            let s = pick(stats).filter(|s| s.total() >= min)?;
            Some((
                &**stats,
                s,
                Source {
                    lane: Some(key.label()),
                    samples: s.total(),
                },
            ))
        })
    }

    /// The time from entering `stage` to delivery for a parcel that took
    /// `elapsed` minutes from pickup to entering it: the learned sketch moved by
    /// that pace as far as the same level's parcels say pace carries on
    /// ([`crate::pace`]); the plain sketch when the pace is unknown or not yet
    /// learned.
    pub fn remaining_after(&self, stage: Stage, elapsed: Option<f64>) -> (Sketch, Source) {
        let Some((stats, sketch, source)) =
            self.learned_at(|s| s.remaining.get(&stage), MIN_SAMPLES)
        else {
            return self.remaining(stage);
        };
        let fit = stats.pace.get(&stage).and_then(Moments::fit);
        match (elapsed, fit) {
            (Some(elapsed), Some(fit)) => (fit.apply(sketch, elapsed), source),
            _ => (sketch.clone(), source),
        }
    }

    /// The stay in `stage` and the time from leaving it to delivery, from the
    /// most specific level that has learned [`MIN_SAMPLES`] stays, moved by the
    /// parcel's pace as [`Self::remaining_after`] moves the time left; `None`
    /// before any level has (the time left from entering the stage stands in).
    fn split_after(&self, stage: Stage, elapsed: Option<f64>) -> Option<Split> {
        let (stats, stay, _) = self.learned_at(|s| s.stay.get(&stage), MIN_SAMPLES)?;
        let after = stats.after.get(&stage)?;
        let fit = stats.pace.get(&stage).and_then(Moments::fit);
        let (stay, after) = match (elapsed, fit) {
            (Some(e), Some(fit)) => (fit.apply_to_part(stay, e), fit.apply_to_part(after, e)),
            _ => (stay.clone(), after.clone()),
        };
        Some(Split {
            after: Cumulative::of(&after)?,
            stay,
        })
    }

    /// The gaps between scans within `stage` as learned, from the most specific
    /// level with at least `min` of them; `None` when no level has that many (the
    /// published figures say nothing about a lane's unusual silences).
    pub fn learned_gaps(&self, stage: Stage, min: i64) -> Option<(Sketch, Source)> {
        self.learned(|s| s.gaps.get(&stage), min)
    }

    /// The levels of the lane's distribution that cover half and nine tenths of
    /// deliveries, as the carrier's deliveries taught ([`Calibration`]); the
    /// nominal 0.5 and 0.9 until they have.
    pub fn calibrated_levels(&self) -> (f64, f64) {
        let learned = self.carrier_calibration();
        let level = |q: f64| learned.and_then(|c| c.level(q)).unwrap_or(q);
        (level(0.5), level(0.9))
    }

    fn carrier_calibration(&self) -> Option<&Calibration> {
        self.levels
            .iter()
            .find(|(key, _)| matches!(key, LaneKey::Carrier(_)))
            .map(|(_, stats)| &stats.calibration)
    }

    /// The time from entering `stage` to delivery.
    pub fn remaining(&self, stage: Stage) -> (Sketch, Source) {
        self.best(|s| s.remaining.get(&stage), || self.prior.remaining(stage))
    }

    /// The gaps between scans within `stage`.
    pub fn gaps(&self, stage: Stage) -> (Sketch, Source) {
        self.best(|s| s.gaps.get(&stage), || self.prior.gaps(stage))
    }

    /// Where a parcel in flight stands on its lane's clock, read once from its
    /// timeline and evaluated cheaply at any instant ([`Outlook::p_delivered_by`]);
    /// `None` once it is delivered or diverted.
    pub fn outlook(&self, shipment: &Shipment) -> Option<Outlook> {
        let journey = Journey::of(shipment);
        let (stage, entered) = journey.current?;
        let pace = journey
            .picked_up_at()
            .filter(|at| entered > *at)
            .map(|at| minutes(entered - at));
        let (remaining, source) = self.remaining_after(stage, pace);
        let split = self.split_after(stage, pace);
        let (gaps, _) = self.gaps(stage.gaps_of());
        // Legs and waits are told apart where a level has learned enough of each
        // kind; else every gap of the stage stands in.
        let of_kind = |leg: bool| {
            self.learned_gaps_of(stage.gaps_of(), leg, MIN_SAMPLES)
                .map_or_else(|| gaps.clone(), |(s, _)| s)
        };
        // [waits, legs], each read once.
        let kinds = [false, true].map(of_kind);
        let usuals = kinds
            .each_ref()
            .map(|s| s.quantile(PAUSE_QUANTILE).unwrap_or(f64::INFINITY));
        let leg = journey.on_a_leg;
        // A stage that is one wait has no pauses: its stay is what is learned.
        let usuals = if stage.is_one_wait() {
            [f64::INFINITY; 2]
        } else {
            usuals
        };
        let usual = usuals[usize::from(leg)];
        let tail = self
            .learned_gaps_of(stage.gaps_of(), leg, TAIL_SAMPLES)
            .or_else(|| self.learned_gaps(stage.gaps_of(), TAIL_SAMPLES))
            .map_or_else(|| kinds[usize::from(leg)].clone(), |(s, _)| s);
        let paused_before: f64 = journey
            .gaps
            .iter()
            .zip(&journey.gap_ends)
            .zip(&journey.gap_legs)
            .filter(|((_, end), _)| **end > entered)
            .map(|(((_, gap), _), leg)| (minutes(*gap) - usuals[usize::from(*leg)]).max(0.0))
            .sum();
        Some(Outlook {
            stage,
            entered,
            last_scan: journey.last_scan,
            usual,
            paused_before,
            remaining,
            split,
            gaps: tail,
            source,
            calibration: self.carrier_calibration().and_then(Calibration::table),
        })
    }

    /// The ETA of a parcel in flight at `now`; `None` once it is delivered or
    /// diverted.
    pub fn eta(&self, shipment: &Shipment, now: DateTime<Utc>) -> Option<Eta> {
        let o = self.outlook(shipment)?;
        let (p50, p90) = self.calibrated_levels();
        let at = |q: f64| Some(o.raw_quantile(q, now)?.max(now + Duration::minutes(1)));
        Some(Eta {
            p50: at(p50)?,
            p90: at(p90)?,
            stage: o.stage,
            source: o.source,
        })
    }

    /// The probability that a parcel in flight is delivered by `by`, as seen at
    /// `now`; `None` once it is delivered or diverted.
    pub fn p_delivered_by(
        &self,
        shipment: &Shipment,
        by: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Option<f64> {
        self.outlook(shipment)?.p_delivered_by(by, now)
    }

    /// [`Self::p_delivered_by`] as the lane's sketches say it, before the
    /// carrier's recalibration (what [`crate::calibration::pits`] judges).
    pub fn raw_p_delivered_by(
        &self,
        shipment: &Shipment,
        by: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Option<f64> {
        self.outlook(shipment)?.raw_p_delivered_by(by, now)
    }
}

/// A parcel in flight on its lane's clock (see [`LaneView::outlook`]).
///
/// A silence longer than the lane's usual gap between scans in that stage (its
/// p95; of its legs after a departure scan, of its waits after any other, where
/// the lane has learned them apart) is a pause: the parcel's way stopped for the excess, and resumes where it
/// was. Pauses so far (past gaps of the stage, and the silence since the last
/// scan) shift the estimate by their length and do not count as progress through
/// the stage, so a stuck parcel's estimate moves out while it stays stuck, and
/// keeps the delay once it moves again. How much longer the current pause goes on
/// is read from the lane's gaps that lasted as long (see
/// [`Outlook::raw_p_delivered_by`]).
#[derive(Clone, Debug)]
pub struct Outlook {
    pub stage: Stage,
    pub entered: DateTime<Utc>,
    pub last_scan: DateTime<Utc>,
    /// The lane's usual longest gap in this stage, minutes.
    usual: f64,
    /// Minutes paused in this stage before the last scan.
    paused_before: f64,
    remaining: Sketch,
    /// The stage's time read in two parts, once learned: a parcel still in the
    /// stage has the rest of its stay and then all the way after it to go.
    split: Option<Split>,
    /// The lane's gaps between scans in this stage, from the most specific level
    /// that has seen [`TAIL_SAMPLES`] of them (else the level `usual` comes
    /// from): how long a silence that has already lasted this long goes on.
    gaps: Sketch,
    pub source: Source,
    /// The carrier's recalibration of chances ([`Calibration::table`]).
    calibration: Option<Box<[f64; crate::calibration::BUCKETS + 1]>>,
}

/// A stage's time to delivery in two parts: the stay in the stage and the time
/// from leaving it to delivery (taken as independent). Read from the time left
/// from entering the stage alone, a parcel that has stayed longer than most
/// parcels' whole way from there looks nearly delivered; read in two parts, it
/// still has the way after the stage before it.
#[derive(Clone, Debug)]
pub(super) struct Split {
    stay: Sketch,
    after: Cumulative,
}

impl Split {
    /// The probability that the stay and the way after it end within `left`
    /// minutes of the stage's entry, knowing the stay has lasted `spent`: over
    /// the stays at least that long, the chance of the way after fitting in
    /// what is left; 0 once it has stayed longer than any parcel learned
    /// (nothing known says it ends soon), as the time left read whole says.
    fn prob(&self, left: f64, spent: f64) -> f64 {
        let (mut sum, mut weight) = (0.0, 0.0);
        for (stay, w) in self.stay.points_at_least(spent) {
            sum += w * self.after.cdf(left - stay);
            weight += w;
        }
        if weight > 0.0 {
            sum / weight
        } else {
            0.0
        }
    }
}

/// Where an [`Outlook`] stands at one instant.
struct Progress {
    /// The stage's entry, moved later by the pauses so far.
    start: DateTime<Utc>,
    /// Minutes of progress through the stage.
    spent: f64,
}

impl Outlook {
    fn at(&self, now: DateTime<Utc>) -> Progress {
        let silence = (now - self.last_scan.max(self.entered)).max(Duration::zero());
        let paused = self.paused_before + (minutes(silence) - self.usual).max(0.0);
        let spent = (minutes((now - self.entered).max(Duration::zero())) - paused).max(0.0);
        Progress {
            start: self.entered + minutes_duration(paused),
            spent,
        }
    }

    /// The probability that the parcel is delivered by `by`, as seen at `now`
    /// with no scan after the ones it has (0 once `by` has passed), recalibrated
    /// by what the carrier's deliveries taught.
    pub fn p_delivered_by(&self, by: DateTime<Utc>, now: DateTime<Utc>) -> Option<f64> {
        let raw = self.raw_p_delivered_by(by, now)?;
        Some(match &self.calibration {
            Some(table) => crate::calibration::recalibrate(table, raw),
            None => raw,
        })
    }

    /// The same, as the lane's sketches alone say it.
    ///
    /// A silence beyond the usual gap does not end now: it lasts as long as the
    /// lane's silences that went on that long lasted (the gaps' distribution given
    /// at least the silence so far, read at [`SILENCE_POINTS`] quantiles), and the
    /// parcel's way resumes after it. A pause a little past the usual gap is
    /// mostly a long healthy leg; one far past it is mostly a stall, whose end is
    /// far off.
    pub fn raw_p_delivered_by(&self, by: DateTime<Utc>, now: DateTime<Utc>) -> Option<f64> {
        if by <= now {
            return Some(0.0);
        }
        let p = self.at(now);
        let left = minutes(by - p.start);
        let within = |left: f64| match &self.split {
            Some(split) => Some(split.prob(left, p.spent)),
            None => self.remaining.prob_at_most_given_at_least(left, p.spent),
        };
        match self.silence_left(now) {
            None => within(left),
            Some(more) => {
                let mut sum = 0.0;
                for m in &more {
                    sum += within(left - m)?;
                }
                Some(sum / more.len() as f64)
            }
        }
    }

    /// The instant by which the parcel is delivered with raw probability `q` (the
    /// inverse of [`Self::raw_p_delivered_by`]), as seen at `now`.
    pub fn raw_quantile(&self, q: f64, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let p = self.at(now);
        if let Some(split) = &self.split {
            if split.stay.points_at_least(p.spent).next().is_none() {
                // Longer in the stage than any parcel learned: no chance is
                // given (see [`Split::prob`]); the estimate says the least it
                // can, that the stay ends now and the way after it is to go.
                return Some(now + minutes_duration(split.after.inverse(q)));
            }
            return self.searched_quantile(q, now);
        }
        let within = |extra: f64| {
            self.remaining
                .quantile_given_at_least(q, p.spent)
                .map(|m| m + extra)
        };
        let Some(more) = self.silence_left(now) else {
            return Some(p.start + minutes_duration(within(0.0)?));
        };
        // The mixture's quantile lies between its parts' quantiles: bisect there
        // to the minute.
        let (mut lo, mut hi) = (f64::INFINITY, 0.0f64);
        for m in &more {
            let at = within(*m)?;
            lo = lo.min(at);
            hi = hi.max(at);
        }
        while hi - lo > 1.0 {
            let mid = (lo + hi) / 2.0;
            let by = p.start + minutes_duration(mid);
            if self.raw_p_delivered_by(by, now)? >= q {
                hi = mid;
            } else {
                lo = mid;
            }
        }
        Some(p.start + minutes_duration(hi))
    }

    /// [`Self::raw_quantile`] found by search: the first minute after `now`
    /// (doubling out, then halving in) by which the chance reaches `q`.
    fn searched_quantile(&self, q: f64, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let reached = |m: f64| -> Option<bool> {
            Some(self.raw_p_delivered_by(now + minutes_duration(m), now)? >= q)
        };
        let (mut lo, mut hi) = (0.0, 60.0);
        while !reached(hi)? {
            lo = hi;
            hi *= 2.0;
            if hi > SEARCH_LIMIT_MIN {
                return Some(now + minutes_duration(SEARCH_LIMIT_MIN));
            }
        }
        while hi - lo > 1.0 {
            let mid = (lo + hi) / 2.0;
            if reached(mid)? {
                hi = mid;
            } else {
                lo = mid;
            }
        }
        Some(now + minutes_duration(hi))
    }

    /// How much longer a silence beyond the usual gap goes on, at
    /// [`SILENCE_POINTS`] quantiles; `None` while the silence is usual.
    fn silence_left(&self, now: DateTime<Utc>) -> Option<Vec<f64>> {
        let silence = minutes((now - self.last_scan.max(self.entered)).max(Duration::zero()));
        if silence <= self.usual {
            return None;
        }
        (0..SILENCE_POINTS)
            .map(|k| {
                let q = (k as f64 + 0.5) / SILENCE_POINTS as f64;
                let gap = self.gaps.quantile_given_at_least(q, silence)?;
                Some((gap - silence).max(0.0))
            })
            .collect()
    }
}

/// The gaps a lane level needs before a silence's length is read from it: 20
/// beyond the usual (p95) gap.
const TAIL_SAMPLES: i64 = 400;

/// How far out an estimate is searched for: a year, in minutes.
const SEARCH_LIMIT_MIN: f64 = 525_600.0;

/// How many points of a silence's remaining length the chance of delivery
/// averages over.
const SILENCE_POINTS: usize = 8;

/// A lane's usual gap between scans: longer silences are pauses.
const PAUSE_QUANTILE: f64 = 0.95;

fn minutes_duration(m: f64) -> Duration {
    Duration::seconds((m * 60.0).round() as i64)
}

/// Lane views for reading many parcels at one instant: parcels of one lane share
/// what it has learned, so each lane is read once.
pub struct LaneViews {
    now: DateTime<Utc>,
    /// By the lane's levels (which name its class when it is known).
    views: std::collections::HashMap<Vec<LaneKey>, LaneView>,
}

impl LaneViews {
    pub fn new(now: DateTime<Utc>) -> LaneViews {
        LaneViews {
            now,
            views: Default::default(),
        }
    }

    /// `shipment`'s lane view at this instant ([`LaneView::load_or_prior`]).
    pub async fn get<S: LaneQuery>(&mut self, store: &S, shipment: &Shipment) -> &LaneView {
        let key = LaneKey::levels(&shipment.id.carrier, &Route::of(shipment));
        if !self.views.contains_key(&key) {
            let view = LaneView::load_or_prior(store, shipment, self.now).await;
            self.views.insert(key.clone(), view);
        }
        &self.views[&key]
    }
}

/// What the lanes learned, kept for a while by a process that checks many
/// parcels (a tracker): a lane's statistics change slowly, so each lane level
/// is read at most once per [`LaneCache::TTL`]. Levels are kept one by one: the
/// province, class and carrier levels are shared by many parcels, so a check
/// reads only the levels it lacks (on DynamoDB one BatchGetItem). Expiry is by
/// the `now` of the asking check, so virtual time works.
#[derive(Default)]
pub struct LaneCache {
    levels: std::sync::Mutex<Kept>,
}

/// Lane levels' statistics, with when each was read.
type Kept = std::collections::HashMap<LaneKey, (DateTime<Utc>, std::sync::Arc<LaneStats>)>;

impl LaneCache {
    /// How long a lane level's statistics are kept: they are counted by the
    /// week, so an hour's delay changes nothing a rule would see.
    pub const TTL: Duration = Duration::hours(1);
    /// Past this many levels, expired ones are dropped when new ones are kept.
    const KEPT: usize = 16_384;

    /// `shipment`'s lane view at `now`: each level as read within the last
    /// [`LaneCache::TTL`], the others read now (one read).
    pub async fn get<S: LaneQuery>(
        &self,
        store: &S,
        shipment: &Shipment,
        now: DateTime<Utc>,
    ) -> Result<LaneView, StoreError> {
        let route = Route::of(shipment);
        let keys = LaneKey::levels(&shipment.id.carrier, &route);
        let fresh = |at: DateTime<Utc>| at <= now && now - at < Self::TTL;
        let mut have: Vec<Option<std::sync::Arc<LaneStats>>> = {
            let kept = self.lock();
            keys.iter()
                .map(|k| {
                    kept.get(k)
                        .filter(|(at, _)| fresh(*at))
                        .map(|(_, s)| s.clone())
                })
                .collect()
        };
        let missing: Vec<usize> = (0..keys.len()).filter(|&i| have[i].is_none()).collect();
        if !missing.is_empty() {
            let names: Vec<String> = missing.iter().map(|&i| keys[i].key()).collect();
            let weeks = window(now);
            let counts = store.lane_counts(&names, &weeks).await?;
            let since = weeks
                .get(crate::calibration::WEEKS - 1)
                .map_or("", String::as_str);
            let mut parsed = LaneStats::by_lane(&counts, since);
            let mut kept = self.lock();
            if kept.len() >= Self::KEPT {
                kept.retain(|_, (at, _)| fresh(*at));
            }
            for (&i, name) in missing.iter().zip(&names) {
                let stats = std::sync::Arc::new(parsed.remove(name).unwrap_or_default());
                kept.insert(keys[i].clone(), (now, stats.clone()));
                have[i] = Some(stats);
            }
        }
        Ok(LaneView {
            levels: keys
                .into_iter()
                .zip(have)
                .map(|(k, s)| (k, s.unwrap_or_default()))
                .collect(),
            prior: Prior::of(&shipment.id.carrier, &route),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Kept> {
        // A panic elsewhere while holding the lock leaves only a cache behind.
        self.levels.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::*;
    use crate::domain::{Status, TrackingEvent};
    use crate::lanes::Lesson;
    use crate::places::{LaneClass, Place};

    #[test]
    fn the_eta_of_a_parcel_in_flight_narrows_as_it_goes() {
        // Seen at 60 h: on the line haul since 8 h.
        let mut s = scanned(3, Status::InTransit);
        // The traces do not name the destination yet: no lane class.
        assert_eq!(LaneView::prior_only(&s).prior.class, None);
        s.destination = Place::parse("乌鲁木齐");
        let view = LaneView::prior_only(&s);
        assert_eq!(view.prior.class, Some(LaneClass::Remote));
        let eta = view.eta(&s, t(60.0)).unwrap();
        assert_eq!(eta.stage, Stage::LineHaul);
        assert!(eta.p50 > t(60.0) && eta.p90 > eta.p50, "{eta:?}");
        assert_eq!(eta.source.lane, None);
        let p = view.p_delivered_by(&s, eta.p50, t(60.0)).unwrap();
        assert!((p - 0.5).abs() < 0.02, "{p}");
        // Learned: 40 parcels on this city lane took 72 h from the line haul on.
        let mut stats = LaneStats::default();
        for _ in 0..40 {
            stats
                .remaining
                .entry(Stage::LineHaul)
                .or_default()
                .add(72.0 * 60.0);
        }
        let key = LaneKey::levels(&s.id.carrier, &Route::of(&s)).remove(0);
        let learned = LaneView {
            levels: vec![(key, std::sync::Arc::new(stats))],
            prior: view.prior.clone(),
        };
        let eta = learned.eta(&s, t(60.0)).unwrap();
        assert_eq!(eta.source.lane.as_deref(), Some("ZTO 杭州→乌鲁木齐"));
        assert_eq!(eta.source.samples, 40);
        let hours = (eta.p50 - t(8.0)).num_minutes() as f64 / 60.0;
        assert!((69.0..76.0).contains(&hours), "{hours}");
        // Delivered: no ETA.
        assert_eq!(learned.eta(&delivered(), t(90.0)), None);
    }

    /// `n` parcels that took `hours` from the line haul on, with scans every
    /// `gap_h` hours in it.
    fn learned(n: usize, hours: f64, gap_h: f64) -> LaneStats {
        let mut stats = LaneStats::default();
        for _ in 0..n {
            stats
                .remaining
                .entry(Stage::LineHaul)
                .or_default()
                .add(hours * 60.0);
            stats
                .gaps
                .entry(Stage::LineHaul)
                .or_default()
                .add(gap_h * 60.0);
        }
        stats
    }

    /// On the line haul since 8 h (its last scan), bound for Urumqi.
    fn on_the_line_haul() -> Shipment {
        let mut s = scanned(2, Status::InTransit);
        s.destination = Place::parse("乌鲁木齐");
        s
    }

    #[test]
    fn a_silence_beyond_the_lanes_usual_gap_moves_the_estimate_out() {
        let s = on_the_line_haul();
        let keys = LaneKey::levels(&s.id.carrier, &Route::of(&s));
        // 72 h from the line haul on, scans every 20 h.
        let view = LaneView {
            levels: vec![(
                keys[0].clone(),
                std::sync::Arc::new(learned(40, 72.0, 20.0)),
            )],
            prior: LaneView::prior_only(&s).prior,
        };
        let hours = |at: DateTime<Utc>| (at - t(0.0)).num_minutes() as f64 / 60.0;
        let at_20 = view.eta(&s, t(20.0)).unwrap();
        assert!((77.0..84.0).contains(&hours(at_20.p50)), "{at_20:?}");
        // Silent until 60 h: 52 h since the last scan, about 32 h beyond the
        // usual gap: a pause, which the estimate is shifted by.
        let at_60 = view.eta(&s, t(60.0)).unwrap();
        let moved = hours(at_60.p50) - hours(at_20.p50);
        assert!((29.0..35.0).contains(&moved), "{moved}");
        let p = view.p_delivered_by(&s, at_20.p90, t(60.0)).unwrap();
        assert!(p < 0.05, "{p}");
        // A lane where long gaps are usual sees no pause yet.
        let slow = LaneView {
            levels: vec![(
                keys[0].clone(),
                std::sync::Arc::new(learned(40, 140.0, 80.0)),
            )],
            prior: view.prior.clone(),
        };
        let eta = slow.eta(&s, t(60.0)).unwrap();
        assert!((140.0..156.0).contains(&hours(eta.p50)), "{eta:?}");
        // Asked about a time already past: no chance.
        assert_eq!(view.p_delivered_by(&s, t(50.0), t(60.0)), Some(0.0));
    }

    /// A lane level that learned, for `stage`, `n` parcels staying `stay_h`
    /// (± a sixth, spread evenly) and then taking `after_h` to delivery.
    fn split_lane(stage: Stage, n: usize, stay_h: f64, after_h: f64) -> LaneStats {
        let mut stats = LaneStats::default();
        for i in 0..n {
            let stay = stay_h * (1.0 + (i as f64 / n as f64 - 0.5) / 3.0) * 60.0;
            let after = after_h * 60.0;
            stats.stay.entry(stage).or_default().add(stay);
            stats.after.entry(stage).or_default().add(after);
            stats.remaining.entry(stage).or_default().add(stay + after);
            stats
                .gaps
                .entry(stage)
                .or_default()
                .add(stay.min(12.0 * 60.0));
        }
        stats
    }

    #[test]
    fn a_parcel_that_stays_long_in_its_stage_still_has_the_way_after_it_to_go() {
        // On the line haul since 8 h, scanned every few hours; its lane stays
        // 40 h (33-47 h) on the line haul, then takes 30 h to delivery.
        let early = on_the_line_haul();
        let scanned_until = |until: f64| {
            let mut s = early.clone();
            for h in [20.0, 30.0, 40.0, 50.0, 58.0]
                .into_iter()
                .filter(|h| *h <= until)
            {
                s.timeline.merge(vec![scan(
                    h,
                    Status::InTransit,
                    "快件已到达【兰州转运中心】",
                )]);
            }
            s
        };
        let s = scanned_until(60.0);
        let keys = LaneKey::levels(&s.id.carrier, &Route::of(&s));
        let view = |stats: LaneStats| LaneView {
            levels: vec![(keys[0].clone(), std::sync::Arc::new(stats))],
            prior: LaneView::prior_only(&s).prior,
        };
        let split = view(split_lane(Stage::LineHaul, 60, 40.0, 30.0));
        let mut whole = split_lane(Stage::LineHaul, 60, 40.0, 30.0);
        whole.stay.clear();
        whole.after.clear();
        let whole = view(whole);
        let hours = |at: DateTime<Utc>| (at - t(0.0)).num_minutes() as f64 / 60.0;
        // Early in the stay both readings agree: about 8 + 40 + 30 h.
        let (a, b) = (
            split.eta(&early, t(10.0)).unwrap(),
            whole.eta(&early, t(10.0)).unwrap(),
        );
        assert!((74.0..82.0).contains(&hours(a.p50)), "{a:?}");
        assert!((hours(a.p50) - hours(b.p50)).abs() < 3.0, "{a:?} {b:?}");
        // At 60 h it has stayed 52 h, longer than any parcel of its lane: read
        // whole, it is as good as delivered (the time left from entering the
        // stage was at most 77 h); read in two parts, nothing known says its
        // stay ends soon (no chance of 84 h), and the estimate is the least it
        // can be: the stay ending now, then the 30 h after it.
        let (a, b) = (
            split.eta(&s, t(60.0)).unwrap(),
            whole.eta(&s, t(60.0)).unwrap(),
        );
        assert!(hours(b.p50) < 80.0, "{b:?}");
        assert!((88.0..92.0).contains(&hours(a.p50)), "{a:?}");
        let p = |v: &LaneView| v.p_delivered_by(&s, t(84.0), t(60.0)).unwrap();
        assert!(
            p(&split) < 0.05 && p(&whole) > 0.5,
            "{} {}",
            p(&split),
            p(&whole)
        );
        // At 48 h (40 h stayed), the stays that lasted that long (40-47 h) are
        // read: about 8 + 43.5 + 30 h.
        let at_48 = split.eta(&scanned_until(48.0), t(48.0)).unwrap();
        assert!((79.5..83.5).contains(&hours(at_48.p50)), "{at_48:?}");
    }

    #[test]
    fn a_wait_in_a_locker_is_its_stay_not_a_pause() {
        // In a locker since 80 h; its lane's parcels were collected after 2-10
        // h, all within 6 h of silence but a few.
        let mut s = delivered();
        let mut events = s.timeline.events().to_vec();
        events.pop();
        events.push(scan(
            80.0,
            Status::AwaitingCollection,
            "已放入快递柜，请凭取件码取件",
        ));
        s.timeline = crate::domain::Timeline::new();
        s.timeline.merge(events);
        s.status = Status::AwaitingCollection;
        let keys = LaneKey::levels(&s.id.carrier, &Route::of(&s));
        let mut stats = LaneStats::default();
        for i in 0..60 {
            let wait = (2.0 + 8.0 * f64::from(i) / 59.0) * 60.0;
            stats.stay.entry(Stage::AtLocker).or_default().add(wait);
            stats.after.entry(Stage::AtLocker).or_default().add(0.0);
            stats
                .remaining
                .entry(Stage::AtLocker)
                .or_default()
                .add(wait);
            stats.gaps.entry(Stage::AtLocker).or_default().add(wait);
        }
        let view = LaneView {
            levels: vec![(keys[0].clone(), std::sync::Arc::new(stats))],
            prior: LaneView::prior_only(&s).prior,
        };
        // 9.5 h in: beyond the usual silence (p95), but the stay itself: the
        // wait ends within the lane's last half hour, not after a pause.
        let eta = view.eta(&s, t(89.5)).unwrap();
        assert_eq!(eta.stage, Stage::AtLocker);
        assert!(eta.p90 <= t(90.5), "{eta:?}");
        assert!(view.p_delivered_by(&s, t(92.0), t(89.5)).unwrap() > 0.95);
    }

    #[test]
    fn a_silence_lasts_as_long_as_the_lanes_silences_that_went_on_that_long() {
        let s = on_the_line_haul();
        let keys = LaneKey::levels(&s.id.carrier, &Route::of(&s));
        // Two lanes, 72 h from the line haul on, scans mostly every 4 h; the
        // silences beyond that were stalls of 60 h on one, legs of 9 h on the other.
        let lane = |long_h: f64| {
            let mut stats = learned(95, 72.0, 4.0);
            let gaps = stats.gaps.get_mut(&Stage::LineHaul).unwrap();
            for _ in 0..5 {
                gaps.add(long_h * 60.0);
            }
            LaneView {
                levels: vec![(keys[0].clone(), std::sync::Arc::new(stats))],
                prior: LaneView::prior_only(&s).prior,
            }
        };
        let (stalls, legs) = (lane(60.0), lane(9.0));
        let hours = |at: DateTime<Utc>| (at - t(0.0)).num_minutes() as f64 / 60.0;
        // Seen 2 h after the last scan (8 h): a usual silence, the same outlook.
        let (a, b) = (
            stalls.eta(&s, t(10.0)).unwrap(),
            legs.eta(&s, t(10.0)).unwrap(),
        );
        assert_eq!(a, b);
        // Silent 8 h: on the lane whose long silences were legs it ends within
        // about an hour; on the lane whose long silences were stalls it goes on
        // for about 52 h more, and the estimate says so now.
        let now = t(16.0);
        let (a, b) = (stalls.eta(&s, now).unwrap(), legs.eta(&s, now).unwrap());
        let later = hours(a.p50) - hours(b.p50);
        assert!((45.0..56.0).contains(&later), "{a:?} {b:?}");
        assert!(stalls.p_delivered_by(&s, b.p90, now).unwrap() < 0.05);
        assert!(legs.p_delivered_by(&s, b.p90, now).unwrap() > 0.85);
        // The ETA is the chance's inverse.
        for (view, eta) in [(&stalls, &a), (&legs, &b)] {
            let p = view.p_delivered_by(&s, eta.p50, now).unwrap();
            assert!((p - 0.5).abs() < 0.03, "{p}");
        }
        // A silence's length is read from a level that has seen enough long
        // silences: the city lane's five stalls give way to its class's 400
        // gaps, whose long ones were legs.
        let mut class = learned(475, 72.0, 4.0);
        let gaps = class.gaps.get_mut(&Stage::LineHaul).unwrap();
        for _ in 0..25 {
            gaps.add(9.0 * 60.0);
        }
        let mut read = stalls.clone();
        read.levels
            .push((keys[2].clone(), std::sync::Arc::new(class)));
        let c = read.eta(&s, now).unwrap();
        assert_eq!(c.source, a.source, "the time left still from the city lane");
        assert!((hours(c.p50) - hours(b.p50)).abs() < 1.0, "{c:?} {b:?}");
        // The chance only falls while the silence goes on.
        let by = t(140.0);
        let chances: Vec<f64> = (10..80)
            .map(|h| stalls.p_delivered_by(&s, by, t(f64::from(h))).unwrap())
            .collect();
        assert!(
            chances.windows(2).all(|w| w[1] <= w[0] + 1e-9),
            "{chances:?}"
        );
    }

    #[test]
    fn a_silence_after_a_departure_is_read_against_the_lanes_legs() {
        // On the line haul since 8 h, silent since: `leg` left a hub at 8 h,
        // `wait` arrived at one then.
        let leg = on_the_line_haul();
        let mut wait = scanned(1, Status::PickedUp);
        wait.timeline.merge(vec![scan(
            8.0,
            Status::InTransit,
            "快件已到达【杭州转运中心】",
        )]);
        wait.status = Status::InTransit;
        wait.destination = leg.destination.clone();
        let keys = LaneKey::levels(&leg.id.carrier, &Route::of(&leg));
        // 72 h from the line haul on; its gaps: 150 waits at hubs of 2 h, 50 legs
        // of 20 h (p95 of them all: 20 h).
        let lane = |with_legs: bool| {
            let mut stats = learned(150, 72.0, 2.0);
            for _ in 0..50 {
                stats
                    .gaps
                    .get_mut(&Stage::LineHaul)
                    .unwrap()
                    .add(20.0 * 60.0);
                if with_legs {
                    stats
                        .legs
                        .entry(Stage::LineHaul)
                        .or_default()
                        .add(20.0 * 60.0);
                }
            }
            LaneView {
                levels: vec![(keys[0].clone(), std::sync::Arc::new(stats))],
                prior: LaneView::prior_only(&leg).prior,
            }
        };
        let hours = |at: DateTime<Utc>| (at - t(0.0)).num_minutes() as f64 / 60.0;
        let moved = |view: &LaneView, s: &Shipment| {
            hours(view.eta(s, t(18.0)).unwrap().p50) - hours(view.eta(s, t(9.0)).unwrap().p50)
        };
        // Silent 10 h: usual for a leg, a pause of about 8 h at a hub.
        let learned_kinds = lane(true);
        assert!(
            moved(&learned_kinds, &leg).abs() < 0.5,
            "{}",
            moved(&learned_kinds, &leg)
        );
        let paused = moved(&learned_kinds, &wait);
        assert!((6.5..9.5).contains(&paused), "{paused}");
        assert!(
            learned_kinds
                .p_delivered_by(&wait, t(84.0), t(18.0))
                .unwrap()
                < learned_kinds
                    .p_delivered_by(&leg, t(84.0), t(18.0))
                    .unwrap()
        );
        // A lane that never learned its legs apart reads both against all its
        // gaps: no pause yet for either.
        let mixed = lane(false);
        assert!(moved(&mixed, &leg).abs() < 0.5);
        assert!(moved(&mixed, &wait).abs() < 0.5);
    }

    #[test]
    fn a_parcel_that_came_fast_so_far_is_expected_sooner_where_pace_carries_on() {
        // 60 parcels like `delivered`, each at its own pace (× 0.6 to 1.6 on
        // every time after pickup).
        let mut stats = LaneStats::default();
        for i in 0..60 {
            let f = 0.6 + f64::from(i) / 59.0;
            let mut s = delivered();
            let events: Vec<TrackingEvent> = s
                .timeline
                .events()
                .iter()
                .map(|e| {
                    let h = (e.at - t(0.0)).num_minutes() as f64 / 60.0;
                    let mut e = e.clone();
                    e.at = t(3.0 + (h - 3.0).max(0.0) * f);
                    e
                })
                .collect();
            s.timeline = crate::domain::Timeline::new();
            s.timeline.merge(events);
            let lesson = Lesson::of(&s).unwrap();
            for (stage, sketch) in lesson.stats.remaining {
                stats.remaining.entry(stage).or_default().merge(&sketch);
            }
            for (stage, m) in lesson.stats.pace {
                let into = stats.pace.entry(stage).or_default();
                for (k, n) in m.sums.iter().enumerate() {
                    into.add_count(k as u32, *n);
                }
            }
        }
        assert_eq!(stats.pace[&Stage::LineHaul].sums[0], 60);
        let key = LaneKey::levels(&delivered().id.carrier, &Route::of(&delivered())).remove(0);
        let view = |stats: LaneStats| LaneView {
            levels: vec![(key.clone(), std::sync::Arc::new(stats))],
            prior: LaneView::prior_only(&delivered()).prior,
        };
        // Two parcels on the line haul since 1 h: one left the origin hub 2 h
        // after pickup, the other 9 h after (the lane's usual: 5 h).
        let on_line_haul = |left_hub: f64| {
            let mut s = scanned(2, Status::InTransit);
            let events = vec![
                scan(3.0, Status::PickedUp, "【杭州市】浙江杭州余杭公司 已揽收"),
                scan(
                    3.0 + left_hub,
                    Status::InTransit,
                    "快件离开【杭州转运中心】",
                ),
            ];
            s.timeline = crate::domain::Timeline::new();
            s.timeline.merge(events);
            s
        };
        let (fast, slow) = (on_line_haul(2.0), on_line_haul(9.0));
        let left = |view: &LaneView, s: &Shipment| {
            let entered = s.timeline.events()[1].at;
            let eta = view.eta(s, entered + Duration::hours(1)).unwrap();
            (eta.p50 - entered).num_minutes() as f64 / 60.0
        };
        let paced = view(stats.clone());
        let (f, w) = (left(&paced, &fast), left(&paced, &slow));
        // Usual: 72 h from the line haul on, × 0.6 to 1.6.
        assert!(f < 55.0 && w > 95.0, "{f} {w}");
        // Without what pace teaches, the two are alike.
        let mut plain = stats;
        plain.pace.clear();
        let plain = view(plain);
        assert!((left(&plain, &fast) - left(&plain, &slow)).abs() < 1.0);
    }

    #[test]
    fn the_carrier_level_stands_in_only_when_the_lane_class_is_unknown() {
        let s = on_the_line_haul();
        let keys = LaneKey::levels(&s.id.carrier, &Route::of(&s));
        assert!(matches!(keys[2], LaneKey::Class { .. }), "{keys:?}");
        assert_eq!(keys[2].label(), "ZTO 偏远地区");
        let carrier = (
            keys[3].clone(),
            std::sync::Arc::new(learned(500, 30.0, 10.0)),
        );
        let prior = LaneView::prior_only(&s).prior;
        // The class is known (remote) but nothing is learned for it: the
        // carrier-wide mix of mostly short lanes is passed over for the prior.
        let with_class = LaneView {
            levels: vec![(keys[2].clone(), Default::default()), carrier.clone()],
            prior: prior.clone(),
        };
        let (_, source) = with_class.remaining(Stage::LineHaul);
        assert_eq!(source.lane, None);
        // Learned for the class: used.
        let with_class = LaneView {
            levels: vec![
                (
                    keys[2].clone(),
                    std::sync::Arc::new(learned(30, 70.0, 12.0)),
                ),
                carrier.clone(),
            ],
            prior,
        };
        let (_, source) = with_class.remaining(Stage::LineHaul);
        assert_eq!(source.lane.as_deref(), Some("ZTO 偏远地区"));
        assert_eq!(source.samples, 30);
        // No class (no destination known): the carrier level is the best there is.
        let mut unknown = s.clone();
        unknown.destination = None;
        unknown.timeline = crate::domain::Timeline::new();
        let (_, source) = LaneView {
            levels: vec![carrier],
            prior: LaneView::prior_only(&unknown).prior,
        }
        .remaining(Stage::LineHaul);
        assert_eq!(source.lane.as_deref(), Some("ZTO"));
    }
}
