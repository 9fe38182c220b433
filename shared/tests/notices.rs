//! Customer notices and the notification outbox, on the embedded pipeline:
//! opt-in per rule, never without a phone number, at most one per parcel and rule,
//! held through quiet hours and delivered in the morning; a notification whose
//! delivery failed stays in the outbox until a later run delivers it.

use std::sync::Mutex;

use chrono::{DateTime, Duration, Utc};

use shared::config::Settings;
use shared::domain::Notification;
use shared::domain::Rule;
use shared::domain::{AlertKind, Audience};
use shared::domain::{Phone, Shipment, ShipmentId, Status, TrackingEvent};
use shared::outbox::{deliver, deliver_pending};
use shared::ports::AlertSink;
use shared::ports::Lease;
use shared::ports::{AlertLog, ShipmentReader, ShipmentWriter};
use shared::ports::{CarrierError, CarrierQuery, CarrierReply};
use shared::registration::register;
use shared::store::memory::MemoryStore;
use shared::tracker::{Tracker, DEFAULT_LEASE};

/// 2024-05-01 00:00 UTC = 08:00 China time, plus `h` hours.
/// The lease a tracker's check at hour `h` holds on what it claimed.
fn held(h: f64) -> Lease {
    Lease::new("tracker", t(h), DEFAULT_LEASE)
}

/// The lease of an outbox pass at hour `h`.
fn outbox(h: f64) -> Lease {
    Lease::new("outbox", t(h), DEFAULT_LEASE)
}

fn t(h: f64) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2024-05-01T00:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
        + Duration::seconds((h * 3600.0) as i64)
}

/// A carrier whose history the test edits.
#[derive(Default)]
struct History(Mutex<Vec<TrackingEvent>>);

impl History {
    fn scan(&self, h: f64, status: Status) {
        self.0.lock().unwrap().push(TrackingEvent {
            at: t(h),
            text: format!("【杭州市】快件扫描 {h}"),
            location: None,
            code: None,
            status,
            hub: None,
        });
    }
}

impl CarrierQuery for History {
    fn name(&self) -> &str {
        "history"
    }
    async fn query(&self, _s: &Shipment) -> Result<CarrierReply, CarrierError> {
        Ok(CarrierReply {
            events: self.0.lock().unwrap().clone(),
            ..CarrierReply::default()
        })
    }
}

/// A sink that records what it takes, or refuses everything.
#[derive(Default)]
struct Recorder {
    taken: Mutex<Vec<Notification>>,
    down: std::sync::atomic::AtomicBool,
}

impl Recorder {
    fn taken(&self) -> Vec<Notification> {
        self.taken.lock().unwrap().clone()
    }
}

impl AlertSink for Recorder {
    async fn publish(&self, ns: &[Notification]) -> Vec<Result<(), String>> {
        if self.down.load(std::sync::atomic::Ordering::SeqCst) {
            return vec![Err("robot unreachable".to_string()); ns.len()];
        }
        self.taken.lock().unwrap().extend_from_slice(ns);
        vec![Ok(()); ns.len()]
    }
}

fn settings(notice_rules: &str, quiet: &str) -> Settings {
    Settings::from_lookup(|k| match k {
        "CUSTOMER_NOTICE_RULES" => Some(notice_rules.to_string()),
        "QUIET_HOURS" => Some(quiet.to_string()),
        "STALLED_HOURS" => Some("48".to_string()),
        _ => None,
    })
    .unwrap()
}

struct World {
    store: MemoryStore,
    carrier: History,
    settings: Settings,
    id: ShipmentId,
}

impl World {
    async fn new(settings: Settings, phone: Option<&str>) -> Self {
        let store = MemoryStore::new();
        let id = ShipmentId::parse("ZTO", "75312345678901").unwrap();
        let mut s = Shipment::new(id.clone(), t(0.0));
        s.phone = phone.map(|p| Phone::parse(p).unwrap());
        register(&store, &s).await.unwrap();
        Self {
            store,
            carrier: History::default(),
            settings,
            id,
        }
    }

    /// Checks the parcel at `h` (made due then, whatever the schedule said).
    async fn check(&self, h: f64) -> Vec<Notification> {
        let mut s = self.store.get_shipment(&self.id).await.unwrap().unwrap();
        s.next_check_at = Some(t(h));
        self.store.put_shipment(&s).await.unwrap();
        let tracker = Tracker::new(&self.store, &self.carrier, &self.settings);
        tracker.check(&self.id, t(h)).await.unwrap().notifications
    }

    async fn notices(&self) -> Vec<shared::domain::AlertRecord> {
        let all = self.store.alerts_for(&self.id).await.unwrap();
        all.into_iter()
            .filter(|r| r.kind == AlertKind::Notice)
            .collect()
    }
}

fn kinds(ns: &[Notification]) -> Vec<(Rule, AlertKind, Audience)> {
    ns.iter()
        .map(|n| (n.record.rule, n.record.kind, n.audience()))
        .collect()
}

#[tokio::test]
async fn an_opted_in_rule_notifies_the_recipient_once_by_day() {
    let w = World::new(settings("stalled", "21-8"), Some("13812345678")).await;
    w.carrier.scan(1.0, Status::PickedUp);
    assert!(w.check(2.0).await.is_empty());
    // 48 h without news: 2024-05-03 09:00 China time, outside quiet hours.
    let ns = w.check(49.0).await;
    assert_eq!(
        kinds(&ns),
        vec![
            (Rule::Stalled, AlertKind::Fired, Audience::Ops),
            (Rule::Stalled, AlertKind::Notice, Audience::Customer),
        ]
    );
    assert!(
        ns[0].notify_customer,
        "the ops message says the customer was told"
    );
    assert_eq!(ns[0].phone, None, "ops notifications carry no phone");
    assert_eq!(
        ns[1].phone.as_ref().map(Phone::expose),
        Some("13812345678"),
        "the notice carries the recipient's phone for the SMS sender"
    );
    assert!(
        !format!("{:?}", ns[1]).contains("13812345678"),
        "a notice never prints the full number"
    );
    assert!(
        !serde_json::to_string(&ns[1])
            .unwrap()
            .contains("13812345678"),
        "nor serialises it"
    );

    // The parcel moves (resolved), then stalls again: a new ops episode, no second
    // notice for the same rule.
    w.carrier.scan(60.0, Status::InTransit);
    let resolved = w.check(61.0).await;
    assert_eq!(
        kinds(&resolved),
        vec![(Rule::Stalled, AlertKind::Resolved, Audience::Ops)]
    );
    let again = w.check(109.0).await;
    assert_eq!(
        kinds(&again),
        vec![(Rule::Stalled, AlertKind::Fired, Audience::Ops)],
        "at most one notice per parcel and rule"
    );
    assert_eq!(w.notices().await.len(), 1);
}

#[tokio::test]
async fn no_notice_without_opt_in_or_without_a_phone() {
    let not_opted = World::new(settings("late", "21-8"), Some("13812345678")).await;
    not_opted.carrier.scan(1.0, Status::PickedUp);
    let ns = not_opted.check(49.0).await;
    assert_eq!(
        kinds(&ns),
        vec![(Rule::Stalled, AlertKind::Fired, Audience::Ops)]
    );
    assert!(!ns[0].notify_customer);
    assert!(not_opted.notices().await.is_empty());

    let no_phone = World::new(settings("stalled", "21-8"), None).await;
    no_phone.carrier.scan(1.0, Status::PickedUp);
    let ns = no_phone.check(49.0).await;
    assert_eq!(
        kinds(&ns),
        vec![(Rule::Stalled, AlertKind::Fired, Audience::Ops)]
    );
    assert!(!ns[0].notify_customer);
    assert!(no_phone.notices().await.is_empty());
}

#[tokio::test]
async fn a_notice_at_night_is_held_until_the_morning() {
    let w = World::new(settings("stalled", "21-8"), Some("13812345678")).await;
    // Picked up at 22:00 China time; stalled 48 h later, at 22:00 again.
    w.carrier.scan(14.0, Status::PickedUp);
    let ns = w.check(62.0).await;
    assert_eq!(
        kinds(&ns),
        vec![(Rule::Stalled, AlertKind::Fired, Audience::Ops)],
        "ops hear at once; the customer does not at 22:00"
    );
    let sink = Recorder::default();
    let d = deliver(&w.store, &sink, &ns, &held(62.0), t(62.0))
        .await
        .unwrap();
    assert_eq!((d.delivered, d.failed), (1, 0));

    let held = w.notices().await;
    assert_eq!(held.len(), 1);
    // 08:00 China time the next day = 00:00 UTC, hour 72.
    assert_eq!(held[0].hold_until, Some(t(72.0)));

    let settings = &w.settings;
    let night = deliver_pending(&w.store, &sink, settings, t(71.9), &outbox(71.9), 100)
        .await
        .unwrap();
    assert_eq!(night.delivered, 0, "nothing goes out during the night");
    let morning = deliver_pending(&w.store, &sink, settings, t(72.0), &outbox(72.0), 100)
        .await
        .unwrap();
    assert_eq!(morning.delivered, 1);
    let taken = sink.taken();
    assert_eq!(
        kinds(&taken[1..]),
        vec![(Rule::Stalled, AlertKind::Notice, Audience::Customer)]
    );
    assert_eq!(
        taken[1].phone.as_ref().map(Phone::expose),
        Some("13812345678")
    );
    let later = deliver_pending(&w.store, &sink, settings, t(80.0), &outbox(80.0), 100)
        .await
        .unwrap();
    assert_eq!(later.delivered, 0, "delivered once");
}

#[tokio::test]
async fn quiet_hours_off_sends_at_night() {
    let w = World::new(settings("stalled", "off"), Some("13812345678")).await;
    w.carrier.scan(14.0, Status::PickedUp);
    let ns = w.check(62.0).await;
    assert_eq!(ns.len(), 2);
    assert_eq!(ns[1].audience(), Audience::Customer);
}

#[tokio::test]
async fn a_failed_delivery_stays_in_the_outbox_until_delivered() {
    let w = World::new(settings("", "21-8"), None).await;
    w.carrier.scan(1.0, Status::PickedUp);
    let ns = w.check(49.0).await;
    assert_eq!(ns.len(), 1);
    let sink = Recorder::default();
    sink.down.store(true, std::sync::atomic::Ordering::SeqCst);
    let d = deliver(&w.store, &sink, &ns, &held(49.0), t(49.0))
        .await
        .unwrap();
    assert_eq!((d.delivered, d.failed), (0, 1));
    assert_eq!(d.first_error.as_deref(), Some("robot unreachable"));
    assert_eq!(
        w.store.pending_alerts(t(49.0), 10).await.unwrap(),
        vec![ns[0].record.clone()]
    );

    let retry = deliver_pending(&w.store, &sink, &w.settings, t(50.0), &outbox(50.0), 10)
        .await
        .unwrap();
    assert_eq!((retry.delivered, retry.failed), (0, 1), "still down");

    sink.down.store(false, std::sync::atomic::Ordering::SeqCst);
    let retry = deliver_pending(&w.store, &sink, &w.settings, t(51.0), &outbox(51.0), 10)
        .await
        .unwrap();
    assert_eq!((retry.delivered, retry.failed), (1, 0));
    let taken = sink.taken();
    assert_eq!(taken.len(), 1);
    assert_eq!(taken[0].record, ns[0].record, "the same alert, intact");
    assert_eq!(taken[0].status, ns[0].status);
    assert!(w
        .store
        .pending_alerts(t(99.0), 10)
        .await
        .unwrap()
        .is_empty());
}

/// An SMS provider that records, or fails echoing the number it was given.
#[derive(Default)]
struct Texts {
    sent: Mutex<Vec<(String, String)>>,
    fail: bool,
}

impl shared::ports::SmsSender for Texts {
    async fn send_sms(&self, to: &str, text: &str) -> Result<(), String> {
        if self.fail {
            return Err(format!("provider refused {to}"));
        }
        self.sent
            .lock()
            .unwrap()
            .push((to.to_string(), text.to_string()));
        Ok(())
    }
}

#[tokio::test]
async fn notices_go_to_mobiles_only_and_errors_hide_the_number() {
    use shared::message::Templates;
    use shared::outbox::send_notice;
    let w = World::new(settings("stalled", "off"), Some("13812345678")).await;
    w.carrier.scan(1.0, Status::PickedUp);
    let ns = w.check(49.0).await;
    let mut notice = ns[1].clone();
    assert_eq!(notice.audience(), Audience::Customer);
    let t = Templates::default();

    let texts = Texts::default();
    send_notice(&texts, &t, Some("优品旗舰店"), &notice)
        .await
        .unwrap();
    let sent = texts.sent.lock().unwrap().clone();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].0, "+8613812345678");
    assert!(sent[0].1.starts_with("【优品旗舰店】"), "{}", sent[0].1);
    assert!(
        sent[0].1.contains("8901"),
        "names the parcel: {}",
        sent[0].1
    );

    let failing = Texts {
        fail: true,
        ..Texts::default()
    };
    let e = send_notice(&failing, &t, None, &notice).await.unwrap_err();
    assert!(!e.contains("13812345678"), "{e}");
    assert!(e.contains("138****5678"), "{e}");

    // A landline takes no SMS, and no phone means nothing to send: both done.
    notice.phone = Some(Phone::parse("057188888888").unwrap());
    let texts = Texts::default();
    send_notice(&texts, &t, None, &notice).await.unwrap();
    notice.phone = None;
    send_notice(&texts, &t, None, &notice).await.unwrap();
    assert!(texts.sent.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_problem_already_superseded_is_told_to_the_team_not_the_customer() {
    let w = World::new(settings("delivery_failed", "off"), Some("13812345678")).await;
    w.carrier.scan(1.0, Status::PickedUp);
    assert!(w.check(2.0).await.is_empty());
    w.carrier.scan(20.0, Status::OutForDelivery);
    w.carrier.scan(21.0, Status::DeliveryFailed);
    w.carrier.scan(30.0, Status::OutForDelivery);
    // The next poll sees the failed attempt only behind the second delivery round.
    let ns = w.check(31.0).await;
    assert_eq!(
        kinds(&ns),
        [
            (Rule::DeliveryFailed, AlertKind::Fired, Audience::Ops),
            (Rule::DeliveryFailed, AlertKind::Resolved, Audience::Ops),
        ]
    );
    assert!(ns
        .iter()
        .all(|n| !n.notify_customer && n.record.since == t(21.0)));
    assert!(w.notices().await.is_empty());
    // Told once.
    assert!(w.check(32.0).await.is_empty());
    // A failure seen while it is the newest trace still notifies the customer.
    w.carrier.scan(33.0, Status::DeliveryFailed);
    let ns = w.check(34.0).await;
    assert_eq!(
        kinds(&ns),
        [
            (Rule::DeliveryFailed, AlertKind::Fired, Audience::Ops),
            (Rule::DeliveryFailed, AlertKind::Notice, Audience::Customer),
        ]
    );
}

/// A parcel with no scan a day after it was registered holds no_trace and
/// no_pickup: one notification (ALERT_INHIBIT's default no_trace>no_pickup) that
/// tells both, and both problems kept for the queue.
#[tokio::test]
async fn a_parcel_without_scans_is_one_alert_telling_both_problems() {
    let w = World::new(settings("", "off"), None).await;
    let told = w.check(25.0).await;
    assert_eq!(told.len(), 1, "{told:?}");
    assert_eq!(told[0].record.rule, Rule::NoTrace);
    let silenced: Vec<Rule> = told[0].silenced.iter().map(|s| s.rule).collect();
    assert_eq!(silenced, [Rule::NoPickup]);
    let s = w.store.get_shipment(&w.id).await.unwrap().unwrap();
    assert!(s.alerts[&Rule::NoPickup].is_active());
    assert!(s.alerts[&Rule::NoTrace].is_active());

    // Without inhibition, two alerts, as the findings are.
    let mut open = settings("", "off");
    open.inhibit = shared::inhibit::Inhibitions::none();
    let w = World::new(open, None).await;
    let told = w.check(25.0).await;
    let rules: Vec<Rule> = told.iter().map(|n| n.record.rule).collect();
    assert_eq!(rules, [Rule::NoPickup, Rule::NoTrace]);
    assert!(told.iter().all(|n| n.silenced.is_empty()));
}

/// An escalation of a problem someone has taken says who has it.
#[tokio::test]
async fn an_escalation_names_who_has_the_problem() {
    use shared::problems::{act, Action, Request, Target};
    let w = World::new(settings("", "off"), None).await;
    w.carrier.scan(1.0, Status::PickedUp);
    w.check(2.0).await;
    let fired = w.check(50.0).await;
    assert_eq!(fired.len(), 1);
    assert_eq!(fired[0].record.rule, Rule::Stalled);
    assert_eq!(fired[0].owner, None);
    let req = Request::new(
        Target::Rule(Rule::Stalled),
        Action::Ack,
        "张三",
        None,
        t(51.0),
    )
    .unwrap();
    act(&w.store, &w.id, &req).await.unwrap();
    let up = w.check(98.0).await;
    assert_eq!(up.len(), 1, "{up:?}");
    assert_eq!(up[0].record.kind, AlertKind::Escalated);
    assert_eq!(up[0].owner.as_deref(), Some("张三"));
    let text = shared::message::Templates::default().render(&up[0]);
    assert!(text.contains("已认领：张三"), "{text}");
}

/// From a problem, someone tells the recipient by hand: the rule's notice goes
/// through the outbox (quiet hours apply), once per parcel and rule, with who
/// asked in the problem's history.
#[tokio::test]
async fn a_notice_by_hand_is_sent_once_through_the_outbox() {
    use shared::problems::{notify, Action, ProblemError, Request, Target};
    // The rule does not tell customers by itself.
    let w = World::new(settings("", "21-8"), Some("13812345678")).await;
    w.carrier.scan(1.0, Status::PickedUp);
    w.check(2.0).await;
    assert_eq!(w.check(50.0).await.len(), 1);
    assert!(w.notices().await.is_empty());
    let ask = |h: f64| {
        Request::new(
            Target::Rule(Rule::Stalled),
            Action::Notify,
            "李四",
            Some("客户来电询问"),
            t(h),
        )
        .unwrap()
    };
    let quiet = w.settings.quiet_hours;
    // 14:00 UTC = 22:00 China time: held until 08:00.
    let record = notify(&w.store, &quiet, &w.id, &ask(62.0)).await.unwrap();
    assert_eq!(record.kind, AlertKind::Notice);
    assert_eq!(record.hold_until, Some(t(72.0)));
    let s = w.store.get_shipment(&w.id).await.unwrap().unwrap();
    let last = s.alerts[&Rule::Stalled].history.last().unwrap();
    assert_eq!((last.by.as_str(), last.action.as_str()), ("李四", "notify"));

    let again = notify(&w.store, &quiet, &w.id, &ask(63.0)).await;
    assert!(
        matches!(again, Err(ProblemError::AlreadyTold { .. })),
        "{again:?}"
    );

    let sink = Recorder::default();
    let set = &w.settings;
    // The team's own alert of hour 50 first.
    let ops = deliver_pending(&w.store, &sink, set, t(51.0), &outbox(51.0), 100)
        .await
        .unwrap();
    assert_eq!(ops.delivered, 1);
    let night = deliver_pending(&w.store, &sink, set, t(71.0), &outbox(71.0), 100)
        .await
        .unwrap();
    assert_eq!(night.delivered, 0);
    let morning = deliver_pending(&w.store, &sink, set, t(72.0), &outbox(72.0), 100)
        .await
        .unwrap();
    assert_eq!(morning.delivered, 1);
    assert_eq!(
        kinds(&sink.taken()[1..]),
        vec![(Rule::Stalled, AlertKind::Notice, Audience::Customer)]
    );

    // Without a phone nobody can be told; without a problem there is nothing to tell.
    let w = World::new(settings("", "off"), None).await;
    w.carrier.scan(1.0, Status::PickedUp);
    w.check(2.0).await;
    w.check(50.0).await;
    let e = notify(&w.store, &quiet, &w.id, &ask(51.0)).await;
    assert!(matches!(e, Err(ProblemError::NoPhone(_))), "{e:?}");
    let w = World::new(settings("", "off"), Some("13812345678")).await;
    let e = notify(&w.store, &quiet, &w.id, &ask(1.0)).await;
    assert!(matches!(e, Err(ProblemError::NoProblem { .. })), "{e:?}");
}
