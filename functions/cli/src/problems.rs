//! `sentinel problems`, `sentinel ack`, `sentinel close`: the problem queue and
//! the actions people take on it (`shared::problems`), on the SQLite store.

use clap::Args;

use shared::clock::SystemClock;
use shared::domain::{CarrierCode, Rule};
use shared::ports::Clock;
use shared::problems::{self, Action, ProblemError, QueueFilter, Request, Target};
use shared::time::local_minutes;

use crate::parcels::open_store;
use crate::{duration, DbArg, Failure};

impl From<ProblemError> for Failure {
    fn from(e: ProblemError) -> Self {
        match e {
            ProblemError::Store(e) => e.into(),
            // Someone else was first: not the user's input, but nothing done.
            ProblemError::Taken { .. } => Failure {
                code: 3,
                message: e.to_string(),
            },
            e @ ProblemError::Ambiguous { .. } => Failure::input(format!("{e} with --carrier")),
            e => Failure::input(e.to_string()),
        }
    }
}

#[derive(Args, Debug)]
pub struct ProblemsArgs {
    /// open, acknowledged, snoozed, closed or all.
    #[arg(long, default_value = "open")]
    pub state: String,
    /// Only problems of this rule (e.g. stalled).
    #[arg(long)]
    pub rule: Option<String>,
    /// Only this carrier.
    #[arg(long, value_name = "CODE")]
    pub carrier: Option<String>,
    /// Only problems of this severity (warning or critical).
    #[arg(long)]
    pub severity: Option<String>,
    /// Only problems this person took (acknowledged, snoozed or closed).
    #[arg(long, value_name = "NAME")]
    pub owner: Option<String>,
    /// At most this many parcels.
    #[arg(long, default_value_t = 100)]
    pub limit: usize,
    /// One JSON object per parcel and line (its problems inside) instead of a table.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub db: DbArg,
}

fn rule_arg(r: &str) -> Result<Rule, Failure> {
    Rule::parse(r)
        .ok_or_else(|| Failure::input(format!("unknown rule {:?}", shared::clip::clip(r))))
}

/// The problem queue, oldest first: one parcel per item, with its problems.
pub async fn list(a: ProblemsArgs) -> Result<u8, Failure> {
    let filter = QueueFilter {
        rule: a.rule.as_deref().map(rule_arg).transpose()?,
        carrier: a
            .carrier
            .as_deref()
            .map(|c| CarrierCode::parse(c).map_err(|e| Failure::input(format!("--carrier: {e}"))))
            .transpose()?,
        ..QueueFilter::default()
    }
    .with_state(&a.state)
    .map_err(|e| Failure::input(format!("--{e}")))?;
    let filter = match &a.severity {
        Some(v) => filter
            .with_severity(v)
            .map_err(|e| Failure::input(format!("--{e}")))?,
        None => filter,
    };
    let filter = match &a.owner {
        Some(o) => filter.with_owner(o),
        None => filter,
    };
    let store = open_store(&a.db.db)?;
    let now = SystemClock.now();
    let items = problems::queue(&store, &filter, now, a.limit).await?;
    if a.json {
        for item in &items {
            let line = serde_json::to_string(item)
                .map_err(|e| Failure::runtime(format!("cannot write JSON: {e}")))?;
            println!("{line}");
        }
        return Ok(0);
    }
    println!(
        "{:<6} {:<22} {:<14} {:<9} {:<17} {:<13} OWNER",
        "CARRIER", "TRACKING NUMBER", "RULE", "SEVERITY", "SINCE", "STATE"
    );
    for item in &items {
        for (i, p) in item.problems.iter().enumerate() {
            let (carrier, number) = if i == 0 {
                (item.carrier.as_str(), item.tracking_number.as_str())
            } else {
                ("", "")
            };
            println!(
                "{:<6} {:<22} {:<14} {:<9} {:<17} {:<13} {}",
                carrier,
                number,
                p.rule.as_str(),
                p.severity.as_str(),
                local_minutes(p.since),
                p.state,
                p.by.as_deref().unwrap_or("-")
            );
        }
    }
    if items.is_empty() {
        eprintln!("no {} problems", a.state.trim());
    }
    Ok(0)
}

/// The parcel and problem an action names.
#[derive(Args, Debug)]
pub struct ProblemArgs {
    /// The tracking number.
    pub tracking_number: String,
    /// The rule (e.g. stalled), or `all` for every open problem of the parcel.
    pub rule: String,
    /// Carrier code; taken from the store when the number is known under one.
    #[arg(long, value_name = "CODE")]
    pub carrier: Option<String>,
    /// Who acts (shown to the team and kept in the history).
    #[arg(long, value_name = "NAME")]
    pub by: String,
    #[command(flatten)]
    pub db: DbArg,
}

#[derive(Args, Debug)]
pub struct AckArgs {
    #[command(flatten)]
    pub problem: ProblemArgs,
    /// A note for the history.
    #[arg(long, value_name = "TEXT")]
    pub note: Option<String>,
    /// Snooze instead: no repeats for this long (e.g. 4h, 2d), then open again.
    #[arg(long, value_name = "DURATION")]
    pub snooze: Option<String>,
}

#[derive(Args, Debug)]
pub struct CloseArgs {
    #[command(flatten)]
    pub problem: ProblemArgs,
    /// Why it is closed (handled outside, e.g. re-shipped).
    #[arg(long, value_name = "TEXT")]
    pub note: String,
}

#[derive(Args, Debug)]
pub struct NotifyArgs {
    #[command(flatten)]
    pub problem: ProblemArgs,
    /// A note for the history (e.g. why the customer is told).
    #[arg(long, value_name = "TEXT")]
    pub note: Option<String>,
}

/// Tells the recipient of a problem by hand: the rule's customer notice, claimed
/// in the outbox (quiet hours apply) and sent by the next `sentinel run`.
pub async fn notify(a: NotifyArgs) -> Result<u8, Failure> {
    act(a.problem, Action::Notify, a.note.as_deref()).await
}

pub async fn ack(a: AckArgs) -> Result<u8, Failure> {
    let action = match a.snooze.as_deref() {
        None => Action::Ack,
        Some(d) => {
            let d = duration::parse(d).map_err(|e| Failure::input(format!("--snooze: {e}")))?;
            let d =
                chrono::Duration::from_std(d).map_err(|_| Failure::input("--snooze: too long"))?;
            Action::Snooze(d)
        }
    };
    act(a.problem, action, a.note.as_deref()).await
}

pub async fn close(a: CloseArgs) -> Result<u8, Failure> {
    act(a.problem, Action::Close, Some(&a.note)).await
}

async fn act(p: ProblemArgs, action: Action, note: Option<&str>) -> Result<u8, Failure> {
    let target = match p.rule.trim() {
        r if r.eq_ignore_ascii_case("all") => Target::All,
        r => Target::Rule(rule_arg(r)?),
    };
    let store = open_store(&p.db.db)?;
    let shipment = problems::locate(&store, &p.tracking_number, p.carrier.as_deref()).await?;
    let now = SystemClock.now();
    let req = Request::new(target, action, &p.by, note, now)?;
    if action == Action::Notify {
        let settings = shared::config::Settings::from_env()?;
        let record = problems::notify(&store, &settings.quiet_hours, &shipment.id, &req).await?;
        println!(
            "{} {}: the recipient's {} notice is in the outbox; `sentinel run` sends it{}",
            shipment.id.carrier,
            shipment.id.tracking_number,
            record.rule,
            match record.hold_until {
                Some(at) => format!(" from {} (quiet hours)", local_minutes(at)),
                None => String::new(),
            }
        );
        return Ok(0);
    }
    let rules = problems::act(&store, &shipment.id, &req).await?;
    let verb = match action {
        Action::Ack => "acknowledged".to_string(),
        Action::Snooze(d) => format!("snoozed until {}", local_minutes(now + d)),
        Action::Close => "closed".to_string(),
        Action::Note => "noted".to_string(),
        Action::Notify => "notified".to_string(),
    };
    let names: Vec<&str> = rules.iter().map(|r| r.as_str()).collect();
    println!(
        "{} {}: {verb} ({})",
        shipment.id.carrier,
        shipment.id.tracking_number,
        names.join(", ")
    );
    Ok(0)
}
