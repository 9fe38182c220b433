use chrono::{DateTime, Duration, Utc};

use super::Stage;
use crate::domain::{Shipment, Status};
use crate::places::{LaneClass, Place};

/// A parcel's way so far, read from its effective timeline.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Journey {
    /// Each stage entered, in order, and when (from its first entry).
    pub entries: Vec<(Stage, DateTime<Utc>)>,
    /// The gaps between consecutive scans on the way (registration to the
    /// first scan included), by the stage the parcel was in during the gap.
    pub gaps: Vec<(Stage, Duration)>,
    /// When each of `gaps` ended (the scan that ended it).
    pub gap_ends: Vec<DateTime<Utc>>,
    /// Whether each of `gaps` began at a departure scan (a leg between hubs,
    /// rather than a wait at one).
    pub gap_legs: Vec<bool>,
    /// Whether the newest scan is a departure: the silence since is a leg.
    pub on_a_leg: bool,
    /// The stage it is in, and when it entered it.
    pub current: Option<(Stage, DateTime<Utc>)>,
    /// The newest scan (or the start, before any).
    pub last_scan: DateTime<Utc>,
    /// When the carrier scanned it delivered.
    pub delivered_at: Option<DateTime<Utc>>,
    /// When a return, a refusal or a loss ended the way to the recipient (the
    /// scan that said so).
    pub diverted_at: Option<DateTime<Utc>>,
}

impl Journey {
    /// When the parcel was picked up (entered [`Stage::PickedUp`]), if it was
    /// scanned so.
    pub fn picked_up_at(&self) -> Option<DateTime<Utc>> {
        self.entries
            .iter()
            .find(|(stage, _)| *stage == Stage::PickedUp)
            .map(|(_, at)| *at)
    }

    pub fn of(shipment: &Shipment) -> Journey {
        let start = shipment.started_at();
        let mut j = Journey {
            entries: vec![(Stage::Registered, start)],
            current: Some((Stage::Registered, start)),
            last_scan: start,
            ..Journey::default()
        };
        let mut stage = Stage::Registered;
        // Where it goes, read (a pass over the timeline) only once a departure
        // names its next stop.
        let bound_for = std::cell::OnceCell::new();
        let toward_destination = |text: &str| {
            let Some(next) = crate::normalise::keywords::next_stop(text) else {
                return false;
            };
            let city: &Option<String> = bound_for.get_or_init(|| {
                Route::of(shipment)
                    .destination
                    .and_then(|p| p.city)
                    .map(|c| c.trim_end_matches('市').to_string())
                    .filter(|c| !c.is_empty())
            });
            city.as_deref().is_some_and(|city| next.starts_with(city))
        };
        for (e, status) in shipment.timeline.effective_statuses() {
            if j.delivered_at.is_some() || j.diverted_at.is_some() {
                break;
            }
            if e.at > j.last_scan {
                j.gaps.push((stage.gaps_of(), e.at - j.last_scan));
                j.gap_ends.push(e.at);
                j.gap_legs.push(j.on_a_leg);
            }
            if e.at >= j.last_scan {
                j.on_a_leg = crate::normalise::keywords::is_departure(&e.text);
            }
            j.last_scan = j.last_scan.max(e.at);
            match status {
                Status::Delivered => {
                    j.delivered_at = Some(e.at);
                    j.current = None;
                }
                Status::Refused | Status::Returning | Status::Returned | Status::Lost => {
                    j.diverted_at = Some(e.at);
                    j.current = None;
                }
                _ => {
                    let next = if status == Status::InTransit && toward_destination(&e.text) {
                        Some(Stage::LastLeg)
                    } else {
                        Stage::of(status)
                    };
                    if let Some(next) = next.filter(|s| *s != stage) {
                        // Stages only move forward: the next attempt after a
                        // failed one stays in redelivery, a scan that goes back (a
                        // re-sort at a hub) leaves the stage as it was.
                        if next > stage {
                            stage = next;
                            if !j.entries.iter().any(|(s, _)| *s == next) {
                                j.entries.push((next, e.at));
                            }
                            j.current = Some((next, e.at));
                        }
                    }
                }
            }
        }
        j
    }
}

/// Where a parcel leaves from and goes to, as far as known.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Route {
    pub origin: Option<Place>,
    pub destination: Option<Place>,
}

impl Route {
    /// The registration's places, else those the traces name: the first place
    /// of the way for the origin; for the destination, the place of a scan at
    /// the destination city or later.
    pub fn of(shipment: &Shipment) -> Route {
        let place = |e: &crate::domain::TrackingEvent| {
            e.location
                .as_deref()
                .and_then(Place::parse)
                .or_else(|| Place::in_trace(&e.text))
        };
        let events = shipment.timeline.effective_statuses();
        let mut origin = shipment.origin.clone();
        let mut destination = shipment.destination.clone();
        for (e, status) in events {
            if origin.is_none() && matches!(status, Status::PickedUp | Status::Pending) {
                origin = place(e);
            }
            if shipment.destination.is_none()
                && matches!(
                    status,
                    Status::ArrivedAtDestinationCity
                        | Status::OutForDelivery
                        | Status::AwaitingCollection
                        | Status::Delivered
                )
            {
                if let Some(p) = place(e) {
                    destination = Some(p);
                }
            }
        }
        Route {
            origin,
            destination,
        }
    }

    pub fn class(&self) -> Option<LaneClass> {
        LaneClass::of(self.origin.as_ref()?, self.destination.as_ref()?)
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::*;
    use crate::domain::TrackingEvent;
    use crate::lanes::{LaneKey, LaneView, Lesson};

    #[test]
    fn a_journey_reads_stages_gaps_and_delivery_from_the_timeline() {
        let j = Journey::of(&delivered());
        assert_eq!(
            j.entries,
            vec![
                (Stage::Registered, t(0.0)),
                (Stage::PickedUp, t(3.0)),
                (Stage::LineHaul, t(8.0)),
                (Stage::AtDestination, t(66.0)),
                (Stage::OutForDelivery, t(76.0)),
            ]
        );
        let gaps: Vec<(Stage, i64)> = j.gaps.iter().map(|(s, d)| (*s, d.num_hours())).collect();
        assert_eq!(
            gaps,
            vec![
                (Stage::Registered, 3),
                (Stage::PickedUp, 5),
                (Stage::LineHaul, 42),
                (Stage::LineHaul, 16),
                (Stage::AtDestination, 10),
                (Stage::OutForDelivery, 4),
            ]
        );
        // Only the gap after the hub's departure scan was a leg.
        assert_eq!(j.gap_legs, vec![false, false, true, false, false, false]);
        assert_eq!(j.delivered_at, Some(t(80.0)));
        assert_eq!(j.current, None);
        assert!(Journey::of(&scanned(2, Status::InTransit)).on_a_leg);
        assert!(!Journey::of(&scanned(3, Status::InTransit)).on_a_leg);
    }

    #[test]
    fn the_last_leg_begins_at_a_departure_for_the_destination_city() {
        let bound = |next: &str, destination: Option<&str>| {
            let mut s = scanned(1, Status::PickedUp);
            s.timeline.merge(vec![scan(
                8.0,
                Status::InTransit,
                &format!("快件离开【杭州转运中心】已发往【{next}】"),
            )]);
            s.status = Status::InTransit;
            s.destination = destination.and_then(Place::parse);
            Journey::of(&s).current.map(|(stage, _)| stage)
        };
        // Bound for Urumqi: a departure for one of its hubs, or for the city
        // itself, is the last leg; for another city's hub, the line haul.
        assert_eq!(
            bound("乌鲁木齐转运中心", Some("新疆乌鲁木齐市")),
            Some(Stage::LastLeg)
        );
        assert_eq!(bound("乌鲁木齐市", Some("乌鲁木齐")), Some(Stage::LastLeg));
        assert_eq!(
            bound("兰州转运中心", Some("乌鲁木齐")),
            Some(Stage::LineHaul)
        );
        // Where it goes is unknown: the line haul.
        assert_eq!(bound("乌鲁木齐转运中心", None), Some(Stage::LineHaul));
        // A delivered parcel's last leg, read from its traces: the stage comes
        // between the line haul and the destination city, its gaps counted with
        // the line haul's, and it teaches its own time to delivery.
        let mut s = delivered();
        let events: Vec<TrackingEvent> = s.timeline.events().to_vec();
        s.timeline = crate::domain::Timeline::new();
        for mut e in events {
            if e.at == t(50.0) {
                e.text = "快件离开【兰州转运中心】已发往【乌鲁木齐转运中心】".into();
            }
            s.timeline.merge(vec![e]);
        }
        let j = Journey::of(&s);
        let stages: Vec<Stage> = j.entries.iter().map(|(stage, _)| *stage).collect();
        // Every stage up to out for delivery, in order.
        assert_eq!(stages, Stage::ALL[..6]);
        assert!(j.gaps.iter().all(|(stage, _)| *stage != Stage::LastLeg));
        let lesson = Lesson::of(&s).unwrap();
        let left = lesson.stats.remaining[&Stage::LastLeg]
            .inverse(0.5)
            .unwrap()
            / 60.0;
        assert!((left / 30.0 - 1.0).abs() < 0.045, "{left}");
        assert_eq!(lesson.stats.gaps[&Stage::LineHaul].total(), 2);
    }

    #[test]
    fn a_failed_attempt_waits_for_the_next_one() {
        let mut s = scanned(5, Status::OutForDelivery);
        s.timeline.merge(vec![
            scan(
                78.0,
                Status::DeliveryFailed,
                "【乌鲁木齐市】派送失败，电话无人接听",
            ),
            scan(96.0, Status::OutForDelivery, "【乌鲁木齐市】快递员正在派件"),
        ]);
        let j = Journey::of(&s);
        // The second attempt stays in redelivery, counted from the failure.
        assert_eq!(j.current, Some((Stage::Redelivery, t(78.0))));
        // Seen just after the failure: the next day, not within the hour.
        let mut s = scanned(5, Status::DeliveryFailed);
        s.timeline
            .merge(vec![scan(78.0, Status::DeliveryFailed, "派送失败")]);
        let eta = LaneView::prior_only(&s).eta(&s, t(79.0)).unwrap();
        assert_eq!(eta.stage, Stage::Redelivery);
        assert!(eta.p50 > t(90.0) && eta.p50 < t(110.0), "{eta:?}");
        // A delivery after it teaches the redelivery stage its time.
        s.timeline
            .merge(vec![scan(99.0, Status::Delivered, "已签收")]);
        let lesson = Lesson::of(&s).unwrap();
        let left = lesson.stats.remaining[&Stage::Redelivery]
            .inverse(0.5)
            .unwrap()
            / 60.0;
        assert!((left / 21.0 - 1.0).abs() < 0.045, "{left}");
        assert_eq!(Stage::parse("redelivery"), Some(Stage::Redelivery));
    }

    #[test]
    fn the_route_comes_from_the_registration_else_the_traces() {
        let s = delivered();
        let r = Route::of(&s);
        assert_eq!(r.origin, Place::parse("杭州"));
        assert_eq!(r.destination, Place::parse("乌鲁木齐"));
        assert_eq!(r.class(), Some(LaneClass::Remote));
        let keys: Vec<String> = LaneKey::levels(&s.id.carrier, &r)
            .iter()
            .map(LaneKey::key)
            .collect();
        assert_eq!(
            keys,
            [
                "c:ZTO:杭州:乌鲁木齐",
                "p:ZTO:浙江:新疆",
                "l:ZTO:remote",
                "k:ZTO"
            ]
        );
        let mut given = s.clone();
        given.origin = Place::parse("宁波");
        given.destination = Place::parse("成都");
        let r = Route::of(&given);
        assert_eq!(r.origin, Place::parse("宁波"));
        assert_eq!(r.destination, Place::parse("成都"));
        // Nothing known: the carrier level only.
        let bare = Shipment::new(s.id.clone(), t(0.0));
        assert_eq!(
            LaneKey::levels(&bare.id.carrier, &Route::of(&bare)),
            vec![LaneKey::Carrier(s.id.carrier.clone())]
        );
    }
}
