//! `sentinel track` and `sentinel run`: the real providers (Kdniao, Kuaidi100)
//! configured from the environment (see `sentinel_carriers`).

use std::time::Duration;

use chrono::Utc;
use clap::Args;
use serde_json::{json, Value};

use shared::clock::SystemClock;
use shared::config::Settings;
use shared::domain::{CarrierCode, Phone, Shipment, ShipmentId, Timeline, TrackingNumber};
use shared::message::describe_zh;
use shared::normalise::carriers::name_zh;
use shared::ports::Clock;
use shared::ports::{CarrierQuery, QueryBudget, ShipmentQuery};
use shared::report::UNREADABLE_SHOWN;
use shared::tracker::{run_due, Tracker};

use crate::console::{deliver_tick, lease_owner, Console};
use sentinel_carriers::{
    detect_carrier, Detection, Kdniao, Provider, ProviderError, ProviderSettings,
};
use shared::lanes::{Eta, LaneView};
use shared::rules;
use shared::schedule::TrackingMode;
use shared::time::{local_minutes, rfc3339};

use crate::parcels::open_store;
use crate::{duration, DbArg, Failure};

impl From<ProviderError> for Failure {
    fn from(e: ProviderError) -> Self {
        Failure::input(format!("configuration: {e}"))
    }
}

/// The configured provider.
pub fn provider() -> Result<(ProviderSettings, Provider), Failure> {
    let ps = ProviderSettings::from_env()?;
    let p = Provider::from_settings(&ps)?;
    Ok((ps, p))
}

#[derive(Args, Debug)]
pub struct TrackArgs {
    /// The tracking number.
    pub tracking_number: String,
    /// Carrier code (SF, ZTO, YTO, ...); detected from the number when not given.
    #[arg(long, value_name = "CODE")]
    pub carrier: Option<String>,
    /// Recipient phone (SF and privacy waybills need its last four digits).
    #[arg(long)]
    pub phone: Option<String>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
    /// A database whose delivered parcels' lanes inform the estimated delivery
    /// (without it, the estimate uses the published transit figures).
    #[arg(long, value_name = "FILE")]
    pub db: Option<std::path::PathBuf>,
}

fn carrier_list(c: &[CarrierCode]) -> String {
    c.iter().map(|c| c.as_str()).collect::<Vec<_>>().join(", ")
}

/// Looks one parcel up: detects the carrier, queries, prints status, timeline
/// and findings. Exit 0 on an answer (with or without findings), 2 for bad input
/// or an undecidable carrier, 1 when the provider failed.
pub async fn track(a: TrackArgs) -> Result<u8, Failure> {
    let settings = Settings::from_env()?;
    let (ps, provider) = provider()?;
    let number = TrackingNumber::parse(&a.tracking_number)
        .map_err(|e| Failure::input(format!("tracking number: {e}")))?;
    let phone = a
        .phone
        .as_deref()
        .map(|p| Phone::parse(p).map_err(|e| Failure::input(format!("--phone: {e}"))))
        .transpose()?;
    let carrier = match a.carrier.as_deref() {
        Some(c) => CarrierCode::parse(c).map_err(|e| Failure::input(format!("--carrier: {e}")))?,
        None => {
            // Kdniao's recognition is used when its credentials are present, even
            // if Kuaidi100 answers the queries.
            let owned;
            let kdniao = match (&provider, &ps.kdniao) {
                (Provider::Kdniao(k), _) => Some(k),
                (_, Some(cfg)) => {
                    owned = Kdniao::new(cfg.clone(), ps.kdniao_guard.clone())
                        .map_err(|e| Failure::runtime(e.to_string()))?;
                    Some(&owned)
                }
                _ => None,
            };
            match detect_carrier(number.as_str(), kdniao).await {
                Ok(Detection::Unique(c)) => c,
                Ok(Detection::Ambiguous(c)) => {
                    return Err(Failure::input(format!(
                        "{number} could be any of {}; say which with --carrier",
                        carrier_list(&c)
                    )))
                }
                Ok(Detection::Unknown) => {
                    return Err(Failure::input(format!(
                        "cannot tell the carrier of {number}; give --carrier"
                    )))
                }
                Err(e) => {
                    return Err(Failure::runtime(format!(
                        "carrier detection failed: {e}; give --carrier"
                    )))
                }
            }
        }
    };
    if carrier.as_str() == "SF" && phone.is_none() {
        return Err(Failure::input(
            "SF answers only with the last four digits of the recipient's (or sender's) \
             phone: give --phone",
        ));
    }
    let now = SystemClock.now();
    let mut shipment = Shipment::new(ShipmentId::new(carrier, number), now);
    shipment.phone = phone;
    let reply = provider
        .query(&shipment)
        .await
        .map_err(|e| Failure::runtime(format!("{}: {e} [{}]", provider.name(), e.kind())))?;
    shipment.timeline = Timeline::from_events(reply.events);
    if let Some(first) = shipment.timeline.events().first() {
        shipment.registered_at = first.at.min(now);
    }
    shipment.status = shipment.timeline.current_status();
    let findings = rules::evaluate(&shipment, &settings.rules, now);
    let lanes = match &a.db {
        Some(path) if path.exists() => {
            let store = open_store(path)?;
            LaneView::load_or_prior(&store, &shipment, now).await
        }
        Some(path) => {
            return Err(Failure::input(format!(
                "--db: {} does not exist",
                path.display()
            )))
        }
        None => LaneView::prior_only(&shipment),
    };
    let eta = lanes.eta(&shipment, now);

    let code = shipment.id.carrier.as_str();
    if a.json {
        let out = json!({
            "carrier": code,
            "tracking_number": shipment.id.tracking_number.as_str(),
            "provider": provider.name(),
            "status": shipment.status.as_str(),
            "raw_state": reply.raw_state,
            "timeline": shipment.timeline.events().iter().map(|e| json!({
                "at": rfc3339(e.at),
                "text": e.text,
                "location": e.location,
                "status": e.status.as_str(),
            })).collect::<Vec<Value>>(),
            "findings": findings.iter().map(|f| json!({
                "rule": f.rule.as_str(),
                "severity": f.severity.as_str(),
                "since": rfc3339(f.since),
            })).collect::<Vec<Value>>(),
            "eta": eta.as_ref().map(Eta::to_json),
            "warnings": reply.warnings,
        });
        println!("{out}");
        return Ok(0);
    }
    println!(
        "{} {} · {}（{}）",
        code,
        shipment.id.tracking_number,
        name_zh(code).unwrap_or(code),
        provider.name()
    );
    println!(
        "状态：{} ({}){}",
        shipment.status.label_zh(),
        shipment.status.as_str(),
        reply
            .raw_state
            .as_deref()
            .map(|r| format!("  [{r}]"))
            .unwrap_or_default()
    );
    let events = shipment.timeline.events();
    if events.is_empty() {
        println!("轨迹：承运商暂无物流信息");
    } else {
        println!("轨迹（{} 条，北京时间）：", events.len());
        for e in events.iter().rev() {
            println!("  {}  {}", local_minutes(e.at), e.text);
        }
    }
    if let Some(eta) = &eta {
        println!(
            "预计送达：{}（九成把握在 {} 前），依据：{}",
            local_minutes(eta.p50),
            local_minutes(eta.p90),
            match &eta.source.lane {
                Some(lane) => format!("{lane} 已送达 {} 件", eta.source.samples),
                None => "国家邮政局公布的时限".to_string(),
            }
        );
    }
    if findings.is_empty() {
        println!("规则：无异常");
    } else {
        println!("规则：");
        for f in &findings {
            println!(
                "  {}（{}，{}）：{}",
                f.rule.label_zh(),
                f.rule.as_str(),
                f.severity.label_zh(),
                describe_zh(f.rule, f.since, now)
            );
        }
    }
    for w in &reply.warnings {
        eprintln!("warning: {w}");
    }
    Ok(0)
}

#[derive(Args, Debug)]
pub struct RunArgs {
    /// One tick, then exit.
    #[arg(long, conflicts_with = "every")]
    pub once: bool,
    /// Time between ticks: 30s, 5m, 1h.
    #[arg(long, value_name = "INTERVAL", value_parser = duration::parse, default_value = "5m")]
    pub every: Duration,
    /// Parcels fetched from the due index per round.
    #[arg(long, default_value_t = 500)]
    pub batch: usize,
    #[command(flatten)]
    pub db: DbArg,
}

/// The scheduler/tracker/alert loop on the embedded store, against the
/// configured provider. Exit 1 when every query of a `--once` tick failed.
pub async fn run(a: RunArgs) -> Result<u8, Failure> {
    let settings = Settings::from_env()?;
    let (ps, provider) = provider()?;
    let store = open_store(&a.db.db)?;
    let tracker = Tracker::new(&store, &provider, &settings)
        .with(ps.mode, ps.concurrency)
        .owned_by(lease_owner());
    let mode = match ps.mode {
        TrackingMode::Poll => "poll",
        TrackingMode::Push => "push",
    };
    eprintln!(
        "sentinel run: provider {}, mode {mode}, store {}",
        provider.name(),
        a.db.db.display()
    );
    let sink = Console::from_env(true)?;
    let mut unreadable_told = 0;
    loop {
        let now = Utc::now();
        let mut fresh = Vec::new();
        let stats = run_due(&tracker, now, a.batch, |ns| fresh.extend(ns)).await?;
        let lease = tracker.lease_at(now);
        // Delivered as of now: the tick may have taken a while.
        let delivered_at = Utc::now();
        let delivery = deliver_tick(&store, &sink, &settings, delivered_at, &fresh, &lease).await?;
        let alerts = delivery.delivered;
        eprintln!(
            "[{}] checked {}, queries {} ({} failed), writes {}, alerts {}",
            local_minutes(now),
            stats.checked,
            stats.queries,
            stats.query_errors,
            stats.writes,
            alerts
        );
        if let Some(limit) = settings.budget.limit(provider.name()) {
            let day = store
                .budget_day(provider.name(), shared::budget::china_day(now))
                .await?;
            eprintln!(
                "  daily query budget ({}): {} of {limit} used today; {} checks deferred this tick, {} today{}",
                provider.name(),
                day.used,
                stats.deferred,
                day.deferred,
                day.short_since
                    .map(|t| format!(" (short since {})", local_minutes(t)))
                    .unwrap_or_default()
            );
        }
        if let Some(e) = &stats.first_failure {
            eprintln!(
                "  {} parcels could not be checked (first: {e}); unreadable ones are set aside, \
                 the others stay due",
                stats.failed
            );
        }
        let unreadable = store.unreadable(UNREADABLE_SHOWN).await?;
        if unreadable.len() != unreadable_told {
            unreadable_told = unreadable.len();
            eprintln!(
                "  {} unreadable stored items are set aside and skipped (sentinel report names \
                 them; repair or delete them){}",
                unreadable.len(),
                unreadable
                    .first()
                    .map(|u| format!("; first: {u}"))
                    .unwrap_or_default()
            );
        }
        if a.once {
            let all_failed = stats.queries > 0 && stats.query_errors == stats.queries;
            return Ok(if all_failed { 1 } else { 0 });
        }
        tokio::time::sleep(a.every).await;
    }
}

/// `TRACKING_MODE` from the environment (`poll` or `push`; anything else is a
/// configuration error, exit 2).
pub fn tracking_mode() -> Result<TrackingMode, Failure> {
    Ok(sentinel_carriers::tracking_mode(|k| std::env::var(k).ok())?)
}

/// In push mode, the provider to subscribe new parcels with; `None` in poll
/// mode (and then no provider configuration is needed to register parcels).
pub fn subscriber() -> Result<Option<Provider>, Failure> {
    if tracking_mode()? != TrackingMode::Push {
        return Ok(None);
    }
    let ps = ProviderSettings::from_env()?;
    Ok(Provider::subscriber(&ps)?)
}
