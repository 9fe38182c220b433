//! Digests: alerts that arrive together become a few readable chat messages, not
//! one message per parcel.
//!
//! Alerts are grouped by (rule, severity, class), where the class is *active*
//! (fired or escalated — new news), *repeated* (still unresolved) or *resolved*;
//! resolved alerts are grouped by rule alone (their severity no longer matters).
//! Groups come worst first:
//!
//! 1. active critical, 2. repeated critical, 3. active warning,
//! 4. repeated warning, 5. resolved;
//!
//! and within one rank the biggest group first, then in rule order. One parcel is
//! one line (one item of work): its alerts of the batch are listed under the worst
//! of them, the line naming the others ("另有：未揽收" / "also: …"), and the
//! problems inhibition kept quiet ([`Notification::silenced`]). Resolutions stay
//! with the resolutions. Each group shows its count of parcels, its first `top`
//! parcels (escalated ones first, then the oldest `since`), one line each —
//! carrier, tracking number, order, since when, the newest trace with phones
//! masked, the parcel's other problems, who has taken it ("已认领：张三"), and a
//! link to its page in the console when `CONSOLE_URL` is set (a markdown link
//! where the channel reads markdown) — and "…及另外 N 件" / "… and N more" for
//! the rest.
//!
//! Messages are cut to `max_text_bytes` (UTF-8 bytes, never inside a character): a
//! group that does not fit continues in the next message under its header marked
//! (续) / (cont.); a single line longer than the limit is cut with `…`. Every input
//! alert is in exactly one digest's `alerts`: listed in it, or counted in the
//! "and N more" line of that same digest.

use std::cmp::Reverse;
use std::collections::HashMap;
use std::fmt::Write;

use crate::domain::AlertKind;
use crate::domain::Notification;
use crate::domain::ShipmentId;
use crate::domain::{Rule, Severity};
use crate::message::{
    carrier_display, rule_label, severity_label, trace_text, truncate_bytes, Language, Templates,
};
use crate::time::local_minutes;

/// One chat message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Digest {
    /// `【严重】物流预警 12 件` / `Parcel alerts: 12 (critical)`, with `（1/3）` /
    /// ` (1/3)` when the batch takes several messages. Also the text's first line.
    pub title: String,
    /// The message, at most `max_text_bytes` bytes.
    pub text: String,
    /// Indices into the input of the alerts this message covers, in the order
    /// they appear (listed lines, then the ones counted in "and N more").
    pub alerts: Vec<usize>,
}

/// How the channel that shows a digest reads its text, so that outside text (an
/// order id, a carrier's trace) is shown as text and never as markup.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Markup {
    /// Shown as typed (Feishu text messages, WeCom text messages; Slack's client
    /// escapes its whole text itself).
    #[default]
    Plain,
    /// DingTalk and WeCom markdown: an order id `[退款](http://…)` must not become
    /// a link, nor `<font…>`, `**` or a heading change the message.
    Markdown,
}

impl Markup {
    /// `text` (from outside) made inert for this markup. Markdown's reserved
    /// characters become their full-width forms — which read the same in a
    /// Chinese message, while a backslash escape is not honoured by every robot's
    /// renderer — and `://` is broken so no bare link is made.
    pub fn outside(self, text: &str) -> String {
        match self {
            Markup::Plain => text.to_string(),
            Markup::Markdown => {
                let mut out = String::with_capacity(text.len());
                for c in text.chars() {
                    out.push(match c {
                        '[' => '［',
                        ']' => '］',
                        '(' => '（',
                        ')' => '）',
                        '<' => '＜',
                        '>' => '＞',
                        '*' => '＊',
                        '_' => '＿',
                        '`' => '｀',
                        '#' => '＃',
                        '!' => '！',
                        '|' => '｜',
                        '~' => '～',
                        '\\' => '＼',
                        c => c,
                    });
                }
                out.replace("://", "：//")
            }
        }
    }
}

/// Newest traces are cut to this many characters in digest lines.
const TRACE_CHARS: usize = 40;

/// What a group is about, for ordering: 0 is the worst.
/// (Customer notices do not belong in ops digests; given one, it counts as new.)
fn rank(kind: AlertKind, severity: Severity) -> u8 {
    match (kind, severity) {
        (AlertKind::Resolved, _) => 4,
        (AlertKind::Repeated, Severity::Critical) => 1,
        (AlertKind::Repeated, Severity::Warning) => 3,
        (_, Severity::Critical) => 0,
        (_, Severity::Warning) => 2,
    }
}

fn rank_of(n: &Notification) -> u8 {
    rank(n.record.kind, n.record.severity)
}

struct Group {
    rank: u8,
    rule: Rule,
    /// One per parcel.
    members: Vec<Line>,
}

/// One parcel's line: its worst alert (`lead`) and the parcel's other alerts of
/// the batch (`extras`), which the line names ("另有：…") — one parcel, one item
/// of work. Resolutions are kept apart from news.
struct Line {
    lead: usize,
    extras: Vec<usize>,
}

impl Line {
    fn alerts(&self) -> impl Iterator<Item = usize> + '_ {
        std::iter::once(self.lead).chain(self.extras.iter().copied())
    }
}

/// The batch's alerts, one line per (parcel, resolved or not), in input order.
fn lines(notifications: &[Notification]) -> Vec<Line> {
    let mut out: Vec<Line> = Vec::new();
    let mut at: HashMap<(&ShipmentId, bool), usize> = HashMap::new();
    let order = |i: usize| (rank_of(&notifications[i]), notifications[i].record.rule);
    for (i, n) in notifications.iter().enumerate() {
        let key = (&n.record.shipment, n.record.kind == AlertKind::Resolved);
        match at.get(&key) {
            Some(&k) => {
                let line = &mut out[k];
                if order(i) < order(line.lead) {
                    line.extras.push(line.lead);
                    line.lead = i;
                } else {
                    line.extras.push(i);
                }
            }
            None => {
                at.insert(key, out.len());
                out.push(Line {
                    lead: i,
                    extras: Vec::new(),
                });
            }
        }
    }
    out
}

/// A line and the alerts it accounts for.
struct Unit {
    line: String,
    alerts: Vec<usize>,
}

struct Section {
    header: String,
    cont_header: String,
    units: Vec<Unit>,
}

fn groups(notifications: &[Notification]) -> Vec<Group> {
    let mut groups: Vec<Group> = Vec::new();
    for line in lines(notifications) {
        let n = &notifications[line.lead];
        let (r, rule) = (rank_of(n), n.record.rule);
        match groups.iter_mut().find(|g| g.rank == r && g.rule == rule) {
            Some(g) => g.members.push(line),
            None => groups.push(Group {
                rank: r,
                rule,
                members: vec![line],
            }),
        }
    }
    groups.sort_by_key(|g| (g.rank, Reverse(g.members.len()), g.rule));
    for g in &mut groups {
        g.members.sort_by_key(|l| {
            let n = &notifications[l.lead];
            (
                n.record.kind != AlertKind::Escalated,
                n.record.since,
                l.lead,
            )
        });
    }
    groups
}

fn header(g: &Group, notifications: &[Notification], lang: Language) -> String {
    let label = rule_label(g.rule, lang);
    let count = g.members.len();
    let escalated = g
        .members
        .iter()
        .filter(|l| notifications[l.lead].record.kind == AlertKind::Escalated)
        .count();
    let sev = |s| severity_label(s, lang);
    match lang {
        Language::Zh => {
            let tag = match g.rank {
                0 => format!("【{}】", sev(Severity::Critical)),
                1 => format!("【{}·仍未解决】", sev(Severity::Critical)),
                2 => format!("【{}】", sev(Severity::Warning)),
                3 => format!("【{}·仍未解决】", sev(Severity::Warning)),
                _ => "【已恢复】".to_string(),
            };
            let mut s = format!("■ {tag}{label} {count} 件");
            if escalated > 0 {
                let _ = write!(s, "（其中升级 {escalated} 件）");
            }
            s
        }
        Language::En => {
            let tag = match g.rank {
                0 => "[CRITICAL]".to_string(),
                1 => "[CRITICAL, still unresolved]".to_string(),
                2 => "[Warning]".to_string(),
                3 => "[Warning, still unresolved]".to_string(),
                _ => "[Resolved]".to_string(),
            };
            let mut s = format!("■ {tag} {label}: {count}");
            if escalated > 0 {
                let _ = write!(s, " ({escalated} escalated)");
            }
            s
        }
    }
}

/// What a line says after the trace: the parcel's other problems, who has it,
/// and its link.
fn line_tail(
    line: &Line,
    notifications: &[Notification],
    templates: &Templates,
    markup: Markup,
) -> String {
    let lang = templates.language();
    let n = &notifications[line.lead];
    let mut others: Vec<Rule> = line
        .extras
        .iter()
        .map(|&i| notifications[i].record.rule)
        .chain(
            line.alerts()
                .flat_map(|i| notifications[i].silenced.iter().map(|x| x.rule)),
        )
        .filter(|r| *r != n.record.rule)
        .collect();
    others.sort();
    others.dedup();
    let mut s = String::new();
    if !others.is_empty() {
        let labels: Vec<&str> = others.iter().map(|r| rule_label(*r, lang)).collect();
        match lang {
            Language::Zh => {
                let _ = write!(s, " · 另有：{}", labels.join("、"));
            }
            Language::En => {
                let _ = write!(s, " · also: {}", labels.join(", "));
            }
        }
    }
    if let Some(owner) = &n.owner {
        let owner = markup.outside(&crate::message::one_line(owner));
        match lang {
            Language::Zh => {
                let _ = write!(s, " · 已认领：{owner}");
            }
            Language::En => {
                let _ = write!(s, " · taken by {owner}");
            }
        }
    }
    if let Some(link) = templates.parcel_link(n) {
        match markup {
            Markup::Markdown => {
                let word = match lang {
                    Language::Zh => "详情",
                    Language::En => "open",
                };
                let _ = write!(s, " · [{word}]({link})");
            }
            Markup::Plain => {
                let _ = write!(s, " · {link}");
            }
        }
    }
    s
}

fn parcel_line(pos: usize, n: &Notification, lang: Language, markup: Markup) -> String {
    let r = &n.record;
    let carrier = carrier_display(r.shipment.carrier.as_str(), lang);
    let trace = n.last_event.as_ref().map(|e| {
        let t = markup.outside(&trace_text(&e.text));
        if t.chars().count() > TRACE_CHARS {
            let mut cut: String = t.chars().take(TRACE_CHARS - 1).collect();
            cut.push('…');
            cut
        } else {
            t
        }
    });
    let order = n
        .order_id
        .as_deref()
        .map(|o| markup.outside(&crate::message::one_line(o)));
    let mut s = format!("  {pos}. ");
    match lang {
        Language::Zh => {
            if r.kind == AlertKind::Escalated {
                s.push_str("〔升级〕");
            }
            let _ = write!(s, "{carrier} {}", r.shipment.tracking_number);
            if let Some(o) = order {
                let _ = write!(s, " · 订单 {o}");
            }
            let _ = write!(s, " · 自 {}", local_minutes(r.since));
            match trace {
                Some(t) => {
                    let _ = write!(s, " · {t}");
                }
                None => s.push_str(" · 暂无轨迹"),
            }
        }
        Language::En => {
            if r.kind == AlertKind::Escalated {
                s.push_str("(escalated) ");
            }
            let _ = write!(s, "{carrier} {}", r.shipment.tracking_number);
            if let Some(o) = order {
                let _ = write!(s, " · order {o}");
            }
            let _ = write!(s, " · since {}", local_minutes(r.since));
            match trace {
                Some(t) => {
                    let _ = write!(s, " · {t}");
                }
                None => s.push_str(" · no trace yet"),
            }
        }
    }
    s
}

fn sections(
    notifications: &[Notification],
    templates: &Templates,
    top: usize,
    markup: Markup,
) -> Vec<Section> {
    let lang = templates.language();
    groups(notifications)
        .into_iter()
        .map(|g| {
            let header = header(&g, notifications, lang);
            let cont_header = match lang {
                Language::Zh => format!("{header}（续）"),
                Language::En => format!("{header} (cont.)"),
            };
            let shown = g.members.len().min(top);
            let mut units: Vec<Unit> = g.members[..shown]
                .iter()
                .enumerate()
                .map(|(k, l)| Unit {
                    line: parcel_line(k + 1, &notifications[l.lead], lang, markup)
                        + &line_tail(l, notifications, templates, markup),
                    alerts: l.alerts().collect(),
                })
                .collect();
            let rest = &g.members[shown..];
            if !rest.is_empty() {
                let line = match lang {
                    Language::Zh => format!("  …及另外 {} 件", rest.len()),
                    Language::En => format!("  … and {} more", rest.len()),
                };
                units.push(Unit {
                    line,
                    alerts: rest.iter().flat_map(Line::alerts).collect(),
                });
            }
            Section {
                header,
                cont_header,
                units,
            }
        })
        .collect()
}

/// The batch title, without the part number.
fn title(notifications: &[Notification], lang: Language) -> String {
    // Parcels (件), not alerts: one parcel's alerts share a line.
    let (mut resolved, mut active) = (0, 0);
    for l in lines(notifications) {
        if notifications[l.lead].record.kind == AlertKind::Resolved {
            resolved += 1;
        } else {
            active += 1;
        }
    }
    let worst = notifications
        .iter()
        .filter(|n| n.record.kind != AlertKind::Resolved)
        .map(|n| n.record.severity)
        .max();
    match (lang, worst) {
        (Language::Zh, Some(sev)) => {
            let mut s = format!("【{}】物流预警 {active} 件", severity_label(sev, lang));
            if resolved > 0 {
                let _ = write!(s, "，已恢复 {resolved} 件");
            }
            s
        }
        (Language::Zh, None) => format!("【已恢复】物流预警 {resolved} 件"),
        (Language::En, Some(sev)) => {
            let mut s = format!("Parcel alerts: {active} ({})", sev.as_str());
            if resolved > 0 {
                let _ = write!(s, ", {resolved} resolved");
            }
            s
        }
        (Language::En, None) => format!("Parcel alerts resolved: {resolved}"),
    }
}

fn part(lang: Language, k: usize, of: usize) -> String {
    match lang {
        Language::Zh => format!("（{k}/{of}）"),
        Language::En => format!(" ({k}/{of})"),
    }
}

/// One message being filled.
struct Page {
    lines: Vec<String>,
    alerts: Vec<usize>,
    /// Bytes of the text so far, counting the title at its longest.
    used: usize,
}

struct Packer {
    limit: usize,
    title_bytes: usize,
    pages: Vec<Page>,
    page: Page,
    ellipsis: &'static str,
}

impl Packer {
    fn fresh(&self) -> Page {
        Page {
            lines: Vec::new(),
            alerts: Vec::new(),
            used: self.title_bytes,
        }
    }

    fn is_fresh(&self) -> bool {
        self.page.lines.is_empty()
    }

    fn fits(&self, bytes: usize) -> bool {
        self.page.used + bytes <= self.limit
    }

    /// Adds a line (after a line break), cut to what room is left.
    fn push(&mut self, line: &str) {
        let room = self.limit.saturating_sub(self.page.used + 1);
        let line = truncate_bytes(line, room, self.ellipsis);
        self.page.used += 1 + line.len();
        self.page.lines.push(line);
    }

    fn flush(&mut self) {
        let fresh = self.fresh();
        let page = std::mem::replace(&mut self.page, fresh);
        self.pages.push(page);
    }

    fn section(&mut self, s: Section) {
        let first = s.units.first().map_or(0, |u| 1 + u.line.len());
        let separator = usize::from(!self.is_fresh());
        if !self.is_fresh() && !self.fits(separator + 1 + s.header.len() + first) {
            self.flush();
        }
        if !self.is_fresh() {
            self.push("");
        }
        self.push(&s.header);
        // Units of this section on the current page.
        let mut here = 0;
        for unit in s.units {
            if here > 0 && !self.fits(1 + unit.line.len()) {
                self.flush();
                self.push(&s.cont_header);
                here = 0;
            }
            self.push(&unit.line);
            self.page.alerts.extend(unit.alerts);
            here += 1;
        }
    }
}

/// Groups `notifications` into chat messages of at most `max_text_bytes` bytes,
/// listing up to `top` parcels per group (see the module documentation). Empty
/// input gives no digests. Outside text is shown as typed ([`Markup::Plain`]).
pub fn digest(
    notifications: &[Notification],
    templates: &Templates,
    max_text_bytes: usize,
    top: usize,
) -> Vec<Digest> {
    digest_with(notifications, templates, max_text_bytes, top, Markup::Plain)
}

/// [`digest`] for a channel that reads `markup`: order ids and traces are made
/// inert for it ([`Markup::outside`]).
pub fn digest_with(
    notifications: &[Notification],
    templates: &Templates,
    max_text_bytes: usize,
    top: usize,
    markup: Markup,
) -> Vec<Digest> {
    if notifications.is_empty() {
        return Vec::new();
    }
    let lang = templates.language();
    let base = title(notifications, lang);
    // Room for the longest part number there could be (one page per line).
    let most = 2 * notifications.len() + 2;
    let title_bytes = base.len() + part(lang, most, most).len();
    let mut packer = Packer {
        limit: max_text_bytes,
        title_bytes,
        pages: Vec::new(),
        page: Page {
            lines: Vec::new(),
            alerts: Vec::new(),
            used: title_bytes,
        },
        ellipsis: "…",
    };
    for s in sections(notifications, templates, top, markup) {
        packer.section(s);
    }
    packer.flush();
    let pages = packer.pages;
    let count = pages.len();
    pages
        .into_iter()
        .enumerate()
        .map(|(k, page)| {
            let title = if count > 1 {
                format!("{base}{}", part(lang, k + 1, count))
            } else {
                base.clone()
            };
            let mut text = title.clone();
            for line in &page.lines {
                text.push('\n');
                text.push_str(line);
            }
            Digest {
                title,
                // Only a limit smaller than the title itself needs this.
                text: truncate_bytes(&text, max_text_bytes, "…"),
                alerts: page.alerts,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::AlertRecord;
    use crate::domain::{ShipmentId, Status, TrackingEvent};
    use crate::rules::hours;
    use chrono::{DateTime, Utc};
    use proptest::prelude::*;

    const PHONE: &str = "13812345678";
    const CARRIERS: [&str; 5] = ["ZTO", "SF", "YTO", "JTSD", "XYZ"];

    fn t0() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2024-11-05T14:20:00+08:00")
            .unwrap()
            .with_timezone(&Utc)
    }

    fn kind_of(k: usize) -> AlertKind {
        [
            AlertKind::Fired,
            AlertKind::Escalated,
            AlertKind::Repeated,
            AlertKind::Resolved,
        ][k % 4]
    }

    #[allow(clippy::too_many_arguments)]
    fn make(
        i: usize,
        rule: Rule,
        severity: Severity,
        kind: AlertKind,
        carrier: &str,
        order: Option<String>,
        trace: Option<String>,
        since_h: f64,
    ) -> Notification {
        let since = t0() + hours(since_h);
        Notification {
            record: AlertRecord {
                shipment: ShipmentId::parse(carrier, &format!("7531{i:010}")).unwrap(),
                rule,
                since,
                kind,
                seq: 0,
                severity,
                at: since + hours(50.0),
                hold_until: None,
            },
            order_id: order,
            status: Status::InTransit,
            last_event: trace.map(|text| TrackingEvent {
                at: since,
                text,
                location: None,
                code: None,
                status: Status::InTransit,
                hub: None,
            }),
            notify_customer: false,
            phone: None,
            owner: None,
            silenced: Vec::new(),
        }
    }

    /// A busy morning: `count` alerts over all rules, both severities, every kind.
    fn batch(count: usize) -> Vec<Notification> {
        (0..count)
            .map(|i| {
                let rule = Rule::ALL[i % 11];
                let severity = if i % 3 == 0 {
                    Severity::Critical
                } else {
                    Severity::Warning
                };
                let kind = if i % 10 == 9 {
                    AlertKind::Resolved
                } else if i % 7 == 0 && severity == Severity::Critical {
                    AlertKind::Escalated
                } else if i % 13 == 0 {
                    AlertKind::Repeated
                } else {
                    AlertKind::Fired
                };
                make(
                    i,
                    rule,
                    severity,
                    kind,
                    CARRIERS[i % 5],
                    Some(format!("DD{i:06}")),
                    Some(format!(
                        "【杭州市】快件已到达杭州转运中心，派件员 李四 电话{PHONE}，第 {i} 站"
                    )),
                    (i % 48) as f64,
                )
            })
            .collect()
    }

    /// Whether alert `i` leads its parcel's line: no other alert of the same
    /// parcel (and resolved or not) is worse, or as bad and earlier.
    fn leads(ns: &[Notification], i: usize) -> bool {
        let key = |k: usize| {
            (
                &ns[k].record.shipment,
                ns[k].record.kind == AlertKind::Resolved,
            )
        };
        let order = |k: usize| (rank_of(&ns[k]), ns[k].record.rule, k);
        !(0..ns.len()).any(|j| j != i && key(j) == key(i) && order(j) < order(i))
    }

    /// Checks the invariants; returns the rank of each parcel line's worst alert
    /// in reading order.
    fn check(ns: &[Notification], ds: &[Digest], limit: usize) -> Vec<u8> {
        let mut seen = vec![0usize; ns.len()];
        let mut ranks = Vec::new();
        for d in ds {
            assert!(
                d.text.len() <= limit,
                "{} > {limit}:\n{}",
                d.text.len(),
                d.text
            );
            assert!(!d.alerts.is_empty(), "an empty digest:\n{}", d.text);
            for &i in &d.alerts {
                seen[i] += 1;
                if leads(ns, i) {
                    ranks.push(rank_of(&ns[i]));
                }
            }
        }
        assert!(
            seen.iter().all(|&c| c == 1),
            "every alert exactly once: {seen:?}"
        );
        assert!(
            ranks.windows(2).all(|w| w[0] <= w[1]),
            "worst first: {ranks:?}"
        );
        ranks
    }

    #[test]
    fn outside_text_cannot_become_markdown() {
        let mut ns = batch(1);
        ns[0].order_id = Some("[退款点这里](http://evil.example/x)".into());
        if let Some(e) = ns[0].last_event.as_mut() {
            e.text = "<font color=red>**请点**</font> ![x](https://evil.example/p.png)".into();
        }
        let md = digest_with(&ns, &Templates::default(), 4096, 5, Markup::Markdown);
        assert_eq!(md.len(), 1);
        let text = &md[0].text;
        for bad in ["[", "](", "://", "<font", "**", "!["] {
            assert!(!text.contains(bad), "{bad:?} in {text}");
        }
        // Still readable: the order id is there, in full-width brackets.
        assert!(
            text.contains("［退款点这里］（http：//evil.example/x）"),
            "{text}"
        );
        // Plain channels show it as typed.
        let plain = digest(&ns, &Templates::default(), 4096, 5);
        assert!(plain[0]
            .text
            .contains("[退款点这里](http://evil.example/x)"));
        // The digest's own lines are the same under both.
        assert_eq!(md[0].title, plain[0].title);
    }

    fn plain(i: usize, rule: Rule, kind: AlertKind) -> Notification {
        make(i, rule, Severity::Warning, kind, "ZTO", None, None, 0.0)
    }

    #[test]
    fn one_parcel_is_one_line_naming_its_other_problems() {
        let mut pickup = plain(0, Rule::NoPickup, AlertKind::Fired);
        pickup.record.severity = Severity::Warning;
        let mut trace = plain(0, Rule::NoTrace, AlertKind::Fired);
        trace.record.severity = Severity::Critical;
        let ns = vec![
            pickup,
            trace,
            plain(1, Rule::Stalled, AlertKind::Fired),
            // A resolution of the same parcel stays with the resolutions.
            plain(0, Rule::Stalled, AlertKind::Resolved),
        ];
        let d = digest(&ns, &Templates::default(), 4096, 5);
        assert_eq!(d.len(), 1);
        let text = &d[0].text;
        assert!(
            text.starts_with("【严重】物流预警 2 件，已恢复 1 件"),
            "{text}"
        );
        // Under the worst of its alerts, once.
        assert_eq!(text.matches("7531").count(), 3, "{text}");
        let line = text
            .lines()
            .find(|l| l.contains("75310000000000") && !l.contains("已恢复"))
            .unwrap();
        assert!(line.contains("另有：未揽收"), "{line}");
        let mut covered = d[0].alerts.clone();
        covered.sort();
        assert_eq!(covered, [0, 1, 2, 3]);
    }

    #[test]
    fn lines_say_who_has_the_problem_and_what_it_silenced() {
        let mut n = plain(0, Rule::NoTrace, AlertKind::Escalated);
        n.owner = Some("张三".into());
        n.silenced = vec![crate::domain::Silenced {
            rule: Rule::NoPickup,
            severity: Severity::Warning,
            since: t0(),
        }];
        let zh = digest(std::slice::from_ref(&n), &Templates::default(), 4096, 5);
        assert!(
            zh[0].text.contains("另有：未揽收 · 已认领：张三"),
            "{}",
            zh[0].text
        );
        let en = digest(&[n], &Templates::builtin(Language::En), 4096, 5);
        assert!(
            en[0].text.contains("also: Not picked up · taken by 张三"),
            "{}",
            en[0].text
        );
    }

    #[test]
    fn lines_link_each_parcel_to_the_console_in_the_channels_markup() {
        let console = crate::message::ConsoleUrl::parse("https://ops.example.cn/").unwrap();
        let t = Templates::default().with_console(Some(console));
        let ns = [plain(7, Rule::Stalled, AlertKind::Fired)];
        let link = "https://ops.example.cn/?parcel=75310000000007&carrier=ZTO";
        let md = digest_with(&ns, &t, 4096, 5, Markup::Markdown);
        assert!(
            md[0].text.contains(&format!("[详情]({link})")),
            "{}",
            md[0].text
        );
        let text = digest(&ns, &t, 4096, 5);
        assert!(
            text[0].text.ends_with(&format!(" · {link}")),
            "{}",
            text[0].text
        );
        // No address, no link.
        let none = digest(&ns, &Templates::default(), 4096, 5);
        assert!(!none[0].text.contains("http"), "{}", none[0].text);
    }

    #[test]
    fn empty_input_gives_no_digest() {
        assert!(digest(&[], &Templates::default(), 4096, 5).is_empty());
    }

    #[test]
    fn a_thousand_alerts_are_a_handful_of_messages() {
        let ns = batch(1000);
        for lang in [Language::Zh, Language::En] {
            let t = Templates::builtin(lang);
            let ds = digest(&ns, &t, 4096, 5);
            check(&ns, &ds, 4096);
            assert!(ds.len() <= 12, "{lang:?}: {} messages", ds.len());
            assert!(ds.len() > 1);
            for d in &ds {
                assert!(d.text.starts_with(&d.title), "{}", d.text);
                assert!(!d.text.contains(PHONE), "{}", d.text);
            }
        }
        let ds = digest(&ns, &Templates::default(), 4096, 5);
        let n = ds.len();
        assert_eq!(
            ds[0].title,
            format!("【严重】物流预警 900 件，已恢复 100 件（1/{n}）")
        );
        assert!(ds[0].text.contains("■ 【严重】"), "{}", ds[0].text);
        assert!(ds[0].text.contains("…及另外 "), "{}", ds[0].text);
        assert!(ds[0].text.contains("138****5678"), "{}", ds[0].text);
        assert!(ds[n - 1].text.contains("【已恢复】"), "{}", ds[n - 1].text);
        let en = digest(&ns, &Templates::builtin(Language::En), 4096, 5);
        assert_eq!(
            en[0].title,
            format!(
                "Parcel alerts: 900 (critical), 100 resolved (1/{})",
                en.len()
            )
        );
        assert!(en[0].text.contains("… and "), "{}", en[0].text);
    }

    #[test]
    fn a_small_batch_is_one_message_worst_first() {
        let trace = || Some(format!("派件员电话{PHONE}"));
        let ns = vec![
            make(
                0,
                Rule::Stalled,
                Severity::Warning,
                AlertKind::Resolved,
                "ZTO",
                None,
                trace(),
                0.0,
            ),
            make(
                1,
                Rule::Late,
                Severity::Warning,
                AlertKind::Fired,
                "SF",
                Some("DD1".into()),
                trace(),
                1.0,
            ),
            make(
                2,
                Rule::Stalled,
                Severity::Critical,
                AlertKind::Escalated,
                "ZTO",
                Some("DD2".into()),
                None,
                2.0,
            ),
            make(
                3,
                Rule::Stalled,
                Severity::Critical,
                AlertKind::Fired,
                "YTO",
                None,
                trace(),
                0.5,
            ),
            make(
                4,
                Rule::Late,
                Severity::Warning,
                AlertKind::Repeated,
                "SF",
                None,
                trace(),
                3.0,
            ),
        ];
        let ds = digest(&ns, &Templates::default(), 4096, 5);
        assert_eq!(ds.len(), 1);
        let d = &ds[0];
        assert_eq!(d.title, "【严重】物流预警 4 件，已恢复 1 件");
        // Escalated first within its group, then the oldest.
        assert_eq!(d.alerts, vec![2, 3, 1, 4, 0]);
        let want = "【严重】物流预警 4 件，已恢复 1 件\n\
             ■ 【严重】物流停滞 2 件（其中升级 1 件）\n  \
             1. 〔升级〕中通快递 75310000000002 · 订单 DD2 · 自 2024-11-05 16:20 · 暂无轨迹\n  \
             2. 圆通速递 75310000000003 · 自 2024-11-05 14:50 · 派件员电话138****5678\n\
             \n\
             ■ 【警告】超过承诺时效 1 件\n  \
             1. 顺丰速运 75310000000001 · 订单 DD1 · 自 2024-11-05 15:20 · 派件员电话138****5678\n\
             \n\
             ■ 【警告·仍未解决】超过承诺时效 1 件\n  \
             1. 顺丰速运 75310000000004 · 自 2024-11-05 17:20 · 派件员电话138****5678\n\
             \n\
             ■ 【已恢复】物流停滞 1 件\n  \
             1. 中通快递 75310000000000 · 自 2024-11-05 14:20 · 派件员电话138****5678";
        assert_eq!(d.text, want);

        let en = digest(&ns, &Templates::builtin(Language::En), 4096, 1);
        assert_eq!(en.len(), 1);
        assert_eq!(en[0].title, "Parcel alerts: 4 (critical), 1 resolved");
        assert!(
            en[0].text.contains(
                "■ [CRITICAL] Stalled: 2 (1 escalated)\n  \
                 1. (escalated) ZTO Express 75310000000002 · order DD2 · since 2024-11-05 16:20 · no trace yet\n  \
                 … and 1 more"
            ),
            "{}",
            en[0].text
        );
    }

    #[test]
    fn all_resolved_title() {
        let ns: Vec<_> = (0..3)
            .map(|i| {
                make(
                    i,
                    Rule::Late,
                    Severity::Critical,
                    AlertKind::Resolved,
                    "SF",
                    None,
                    None,
                    0.0,
                )
            })
            .collect();
        let zh = digest(&ns, &Templates::default(), 1024, 5);
        assert_eq!(zh[0].title, "【已恢复】物流预警 3 件");
        let en = digest(&ns, &Templates::builtin(Language::En), 1024, 5);
        assert_eq!(en[0].title, "Parcel alerts resolved: 3");
    }

    #[test]
    fn a_group_that_does_not_fit_continues_in_the_next_message() {
        let ns: Vec<_> = (0..30)
            .map(|i| {
                make(
                    i,
                    Rule::Stalled,
                    Severity::Warning,
                    AlertKind::Fired,
                    "ZTO",
                    Some(format!("DD{i}")),
                    Some("【杭州市】快件已到达杭州转运中心".into()),
                    i as f64,
                )
            })
            .collect();
        let ds = digest(&ns, &Templates::default(), 600, 20);
        assert!(ds.len() > 1);
        check(&ns, &ds, 600);
        assert!(
            ds[1].text.contains("■ 【警告】物流停滞 30 件（续）"),
            "{}",
            ds[1].text
        );
        let last = &ds[ds.len() - 1];
        assert!(last.text.ends_with("  …及另外 10 件"), "{}", last.text);
        assert_eq!(
            ds[0].title,
            format!("【警告】物流预警 30 件（1/{}）", ds.len())
        );
        let en = digest(&ns, &Templates::builtin(Language::En), 600, 20);
        assert!(en[1].text.contains("Stalled: 30 (cont.)"), "{}", en[1].text);
    }

    #[test]
    fn an_overlong_line_is_cut_with_an_ellipsis() {
        let ns = vec![make(
            0,
            Rule::Exception,
            Severity::Critical,
            AlertKind::Fired,
            "SF",
            Some("订".repeat(1000)),
            Some(format!("电话{PHONE}").repeat(100)),
            0.0,
        )];
        let ds = digest(&ns, &Templates::default(), 512, 5);
        assert_eq!(ds.len(), 1);
        check(&ns, &ds, 512);
        let line = ds[0].text.lines().last().unwrap();
        assert!(
            line.starts_with("  1. 顺丰速运 75310000000000 · 订单 订订"),
            "{line}"
        );
        assert!(line.ends_with('…'), "{line}");
        // The trace is capped on its own too, masked.
        let ns = vec![make(
            0,
            Rule::Exception,
            Severity::Critical,
            AlertKind::Fired,
            "SF",
            None,
            Some(format!("电话{PHONE} ").repeat(100)),
            0.0,
        )];
        let ds = digest(&ns, &Templates::default(), 4096, 5);
        let line = ds[0].text.lines().last().unwrap();
        assert!(line.chars().count() < 100, "{line}");
        assert!(line.ends_with('…') && !line.contains(PHONE), "{line}");
    }

    #[test]
    fn tiny_limits_still_account_for_every_alert() {
        let ns = batch(40);
        for limit in [0, 1, 10, 60, 100, 200] {
            let ds = digest(&ns, &Templates::default(), limit, 3);
            check(&ns, &ds, limit);
        }
    }

    fn arb_notification() -> impl Strategy<Value = Notification> {
        (
            0usize..11,
            any::<bool>(),
            0usize..4,
            0usize..5,
            proptest::option::of("[A-Z0-9订单\\-]{1,40}"),
            proptest::option::of("[\\PC\\n]{0,120}"),
            0u32..500,
            0usize..1_000_000,
        )
            .prop_map(|(rule, critical, kind, carrier, order, trace, since, id)| {
                let severity = if critical {
                    Severity::Critical
                } else {
                    Severity::Warning
                };
                make(
                    id,
                    Rule::ALL[rule],
                    severity,
                    kind_of(kind),
                    CARRIERS[carrier],
                    order,
                    trace,
                    f64::from(since),
                )
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        #[test]
        fn every_alert_once_every_text_within_the_limit_worst_first(
            ns in proptest::collection::vec(arb_notification(), 0..150),
            limit in 512usize..6000,
            top in 0usize..8,
            en in any::<bool>(),
        ) {
            let lang = if en { Language::En } else { Language::Zh };
            let ds = digest(&ns, &Templates::builtin(lang), limit, top);
            prop_assert_eq!(ds.is_empty(), ns.is_empty());
            check(&ns, &ds, limit);
            for d in &ds {
                prop_assert!(d.text.starts_with(&d.title));
                prop_assert!(!d.title.contains('\n'));
            }
        }
    }
}
