//! Rule evaluation throughput: one realistic in-transit parcel (10 traces, a hub
//! dwell, a promise date, a per-carrier override in the config) evaluated at a
//! virtual `now`. Target: at least 1 million evaluations per second on one core.
//!
//! `cargo bench -p sentinel-shared --bench rules`

use chrono::{DateTime, Duration, Utc};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use std::hint::black_box;

use shared::domain::Rule;
use shared::domain::{CarrierCode, Shipment, ShipmentId, Status, Timeline, TrackingEvent};
use shared::rules;
use shared::rules::{hours, RuleConfig};
use shared::schedule;
use shared::schedule::{PollPolicy, TrackingMode};

fn shipment() -> Shipment {
    let t0 = DateTime::parse_from_rfc3339("2024-11-04T10:00:00+08:00")
        .unwrap()
        .with_timezone(&Utc);
    let mut s = Shipment::new(ShipmentId::parse("ZTO", "75312345678901").unwrap(), t0);
    s.promised_at = Some(t0 + Duration::hours(72));
    let steps: [(i64, Status, Option<&str>, &str); 10] = [
        (
            2,
            Status::PickedUp,
            None,
            "【杭州市】中通快递 余杭网点 已揽收",
        ),
        (
            5,
            Status::InTransit,
            Some("杭州转运中心"),
            "快件已到达【杭州转运中心】",
        ),
        (
            6,
            Status::InTransit,
            None,
            "快件离开【杭州转运中心】，已发往【武汉转运中心】",
        ),
        (
            20,
            Status::InTransit,
            Some("武汉转运中心"),
            "快件已到达【武汉转运中心】",
        ),
        (
            21,
            Status::InTransit,
            None,
            "快件离开【武汉转运中心】，已发往【成都转运中心】",
        ),
        (
            38,
            Status::InTransit,
            Some("成都转运中心"),
            "快件已到达【成都转运中心】",
        ),
        (
            39,
            Status::InTransit,
            None,
            "快件离开【成都转运中心】，已发往【成都】",
        ),
        (
            45,
            Status::InTransit,
            Some("成都分拨中心"),
            "快件已到达【成都分拨中心】",
        ),
        (
            46,
            Status::InTransit,
            Some("成都分拨中心"),
            "快件在【成都分拨中心】进行分拣",
        ),
        (
            47,
            Status::InTransit,
            Some("成都分拨中心"),
            "快件在【成都分拨中心】进行卸车扫描",
        ),
    ];
    s.timeline = Timeline::from_events(steps.iter().map(|(h, st, hub, text)| TrackingEvent {
        at: t0 + Duration::hours(*h),
        text: text.to_string(),
        location: None,
        code: None,
        status: *st,
        hub: hub.map(str::to_string),
    }));
    s
}

fn bench(c: &mut Criterion) {
    let s = shipment();
    let mut config = RuleConfig::default();
    config.set_override(
        Rule::Stalled,
        CarrierCode::parse("EMS").unwrap(),
        hours(72.0),
    );
    config.set_override(
        Rule::HubDwell,
        CarrierCode::parse("ZTO").unwrap(),
        hours(12.0),
    );
    let now = s.registered_at + Duration::hours(75);
    assert!(
        !rules::evaluate(&s, &config, now).is_empty(),
        "the bench parcel has findings"
    );

    let mut g = c.benchmark_group("rules");
    g.throughput(Throughput::Elements(1));
    g.bench_function("evaluate", |b| {
        b.iter(|| rules::evaluate(black_box(&s), black_box(&config), black_box(now)))
    });
    g.bench_function("evaluate+next_check_at", |b| {
        let policy = PollPolicy::default();
        b.iter(|| {
            let f = rules::evaluate(black_box(&s), &config, now);
            let n = schedule::next_check_at(&s, &config, TrackingMode::Poll, &policy, now);
            (f, n)
        })
    });
    g.bench_function("merge_10_known_events", |b| {
        let again: Vec<TrackingEvent> = s.timeline.events().to_vec();
        b.iter_batched(
            || (s.timeline.clone(), again.clone()),
            |(mut t, e)| t.merge(e),
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
