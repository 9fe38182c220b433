//! The fleet-health view as one self-contained HTML file (`sentinel report
//! --html FILE`, for a daily mail): no script, no external resource, the style
//! in the page and the charts drawn here as inline SVG. The same sections and
//! labels as the console page's "fleet health" (`console/page/console.js`):
//! totals; parcels by status and by carrier; unresolved problems by rule,
//! severity and state; alerts and registered/delivered parcels per day over the
//! last 14 days; delivery figures per carrier.
//!
//! Every number a chart shows is also written as text (beside its bar, and the
//! days again as a table), so a mail reader that drops SVG still shows them.
//! Every string that comes from outside (carrier codes, stored keys) is escaped
//! with [`escape`].

use std::fmt::Write;

use chrono::{DateTime, Utc};

use shared::domain::{Rule, Severity, Status};
use shared::message::{carrier_display, rule_label, severity_label, status_label, Language};
use shared::report::{DayCount, HealthSummary};
use shared::time::local_minutes;

/// Escapes text for HTML element content and quoted attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The fixed words of the view, per language (as the console page's).
struct Words {
    html_lang: &'static str,
    title: &'static str,
    as_of: &'static str,
    totals: &'static str,
    parcels: &'static str,
    with_problems: &'static str,
    query_errors: &'static str,
    open_problems: &'static str,
    by_status: &'static str,
    by_carrier: &'static str,
    problems: &'static str,
    by_rule: &'static str,
    by_severity: &'static str,
    by_state: &'static str,
    days: &'static str,
    alerts_per_day: &'static str,
    flow_per_day: &'static str,
    date: &'static str,
    registered: &'static str,
    delivered: &'static str,
    alerts: &'static str,
    delivery: &'static str,
    carrier: &'static str,
    promised: &'static str,
    on_time_rate: &'static str,
    p50: &'static str,
    p90: &'static str,
    none: &'static str,
    unreadable: &'static str,
    footer: &'static str,
    states: [(&'static str, &'static str); 4],
}

const ZH: Words = Words {
    html_lang: "zh-CN",
    title: "包裹哨兵 · 全局健康",
    as_of: "截至（北京时间）",
    totals: "总览",
    parcels: "包裹总数",
    with_problems: "有问题的包裹",
    query_errors: "查询失败",
    open_problems: "待处理问题",
    by_status: "按状态",
    by_carrier: "按快递",
    problems: "问题",
    by_rule: "未解决问题（按规则）",
    by_severity: "未解决问题（按级别）",
    by_state: "问题（按处理状态）",
    days: "最近14天",
    alerts_per_day: "每日告警（14天）",
    flow_per_day: "每日揽收登记与签收（14天）",
    date: "日期",
    registered: "登记",
    delivered: "已签收",
    alerts: "告警",
    delivery: "各快递签收时效",
    carrier: "快递",
    promised: "有承诺时间",
    on_time_rate: "准时率",
    p50: "时效 p50 (小时)",
    p90: "时效 p90 (小时)",
    none: "无",
    unreadable: "无法读取的存储记录（已跳过）",
    footer: "由 sentinel report 生成",
    states: [
        ("open", "待处理"),
        ("acknowledged", "已认领"),
        ("snoozed", "已暂停"),
        ("closed", "已关闭"),
    ],
};

const EN: Words = Words {
    html_lang: "en",
    title: "Parcel Sentinel · Fleet health",
    as_of: "As of (China time)",
    totals: "Totals",
    parcels: "Parcels",
    with_problems: "Parcels with problems",
    query_errors: "Query errors",
    open_problems: "Open problems",
    by_status: "By status",
    by_carrier: "By carrier",
    problems: "Problems",
    by_rule: "Open problems by rule",
    by_severity: "Open problems by severity",
    by_state: "Problems by state",
    days: "Last 14 days",
    alerts_per_day: "Alerts per day (14 days)",
    flow_per_day: "Registered and delivered per day (14 days)",
    date: "Date",
    registered: "Registered",
    delivered: "Delivered",
    alerts: "Alerts",
    delivery: "Delivery by carrier",
    carrier: "Carrier",
    promised: "With a promised date",
    on_time_rate: "On time",
    p50: "Transit p50 (h)",
    p90: "Transit p90 (h)",
    none: "None",
    unreadable: "Unreadable stored items (skipped)",
    footer: "Made by sentinel report",
    states: [
        ("open", "Open"),
        ("acknowledged", "Acknowledged"),
        ("snoozed", "Snoozed"),
        ("closed", "Closed"),
    ],
};

fn words(lang: Language) -> &'static Words {
    match lang {
        Language::Zh => &ZH,
        Language::En => &EN,
    }
}

/// The page's palette (as the console's).
const BLUE: &str = "#1463c8";
const AMBER: &str = "#b86e00";
const GREEN: &str = "#1f7a3f";
const RED: &str = "#c0262d";
const PURPLE: &str = "#6b4fbb";
const TEAL: &str = "#0f8a8a";

const STYLE: &str = "\
body{margin:0;padding:16px;font:14px/1.45 system-ui,\"PingFang SC\",\"Microsoft YaHei\",\"WenQuanYi Micro Hei\",sans-serif;color:#1d2733;background:#f5f7f9}\
h1{font-size:1.2rem;margin:0 0 2px}\
h2{font-size:1rem;margin:0 0 8px}\
h3{font-size:.95rem;margin:12px 0 4px}\
section{background:#fff;border:1px solid #d9dee4;border-radius:6px;padding:10px 14px;margin:12px 0}\
table{border-collapse:collapse}\
th,td{text-align:left;padding:3px 8px;border-bottom:1px solid #d9dee4;vertical-align:middle}\
th{font-weight:600;color:#6b7785;font-size:.85rem}\
td.n{text-align:right;font-variant-numeric:tabular-nums}\
.muted{color:#6b7785}\
.figures td{border:0;padding:0 24px 0 0;vertical-align:top}\
.figures b{display:block;font-size:1.4rem}\
.legend span{margin-right:12px;font-size:.8rem}\
.legend i{display:inline-block;width:10px;height:10px;margin-right:4px}\
svg text{font-size:10px;fill:#1d2733}\
";

/// The fleet-health view of `summary` in `lang`, dated `generated_at` (China
/// time): one HTML document, nothing outside it.
pub fn fleet_html(summary: &HealthSummary, lang: Language, generated_at: DateTime<Utc>) -> String {
    let w = words(lang);
    let when = local_minutes(generated_at);
    let mut out = String::with_capacity(16 * 1024);
    let _ = write!(
        out,
        "<!doctype html>\n<html lang=\"{}\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{} {}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n",
        w.html_lang,
        escape(w.title),
        escape(&when),
    );
    let _ = write!(
        out,
        "<h1>{}</h1>\n<p class=\"muted\">{} <time>{}</time></p>\n",
        escape(w.title),
        escape(w.as_of),
        escape(&when)
    );
    totals(&mut out, summary, w);
    section(&mut out, "by-status", w.by_status, |o| {
        let rows = sorted(
            summary
                .by_status
                .iter()
                .map(|(k, v)| (status_text(k, lang), *v)),
        );
        bar_table(o, w.by_status, &rows, BLUE, w.none);
    });
    section(&mut out, "by-carrier", w.by_carrier, |o| {
        let rows = sorted(
            summary
                .by_carrier
                .iter()
                .map(|(k, v)| (carrier_text(k, lang), *v)),
        );
        bar_table(o, w.by_carrier, &rows, TEAL, w.none);
    });
    section(&mut out, "problems", w.problems, |o| {
        let by_rule = sorted(
            summary
                .active_alerts
                .iter()
                .map(|(k, v)| (rule_text(k, lang), *v)),
        );
        let by_severity = sorted(
            summary
                .problems_by_severity
                .iter()
                .map(|(k, v)| (severity_text(k, lang), *v)),
        );
        // Workflow order (open first), then anything unknown by name.
        let mut by_state: Vec<(String, u64)> = w
            .states
            .iter()
            .filter_map(|(code, text)| {
                summary
                    .problems_by_state
                    .get(*code)
                    .map(|n| (text.to_string(), *n))
            })
            .collect();
        by_state.extend(
            summary
                .problems_by_state
                .iter()
                .filter(|(k, _)| !w.states.iter().any(|(code, _)| code == k))
                .map(|(k, v)| (k.clone(), *v)),
        );
        for (id, title, rows, colour) in [
            ("by-rule", w.by_rule, &by_rule, RED),
            ("by-severity", w.by_severity, &by_severity, AMBER),
            ("by-state", w.by_state, &by_state, PURPLE),
        ] {
            let _ = writeln!(o, "<h3 id=\"{id}\">{}</h3>", escape(title));
            bar_table(o, title, rows, colour, w.none);
        }
    });
    section(&mut out, "days", w.days, |o| {
        let _ = writeln!(o, "<h3>{}</h3>", escape(w.alerts_per_day));
        day_chart(
            o,
            w.alerts_per_day,
            &summary.days,
            &[(w.alerts, RED, |d| d.alerts)],
        );
        let _ = writeln!(o, "<h3>{}</h3>", escape(w.flow_per_day));
        day_chart(
            o,
            w.flow_per_day,
            &summary.days,
            &[
                (w.registered, BLUE, |d| d.registered),
                (w.delivered, GREEN, |d| d.delivered),
            ],
        );
        day_table(o, w, &summary.days);
    });
    section(&mut out, "delivery", w.delivery, |o| {
        delivery_table(o, summary, lang, w)
    });
    if !summary.unreadable.is_empty() {
        let _ = writeln!(
            out,
            "<p class=\"muted\" id=\"unreadable\">{}: {}</p>",
            escape(w.unreadable),
            summary.unreadable.len()
        );
    }
    let _ = write!(
        out,
        "<p class=\"muted\">{}</p>\n</body>\n</html>\n",
        escape(w.footer)
    );
    out
}

fn section(out: &mut String, id: &str, title: &str, body: impl FnOnce(&mut String)) {
    let _ = writeln!(out, "<section id=\"{id}\">\n<h2>{}</h2>", escape(title));
    body(out);
    out.push_str("</section>\n");
}

fn totals(out: &mut String, s: &HealthSummary, w: &Words) {
    let open = s.problems_by_state.get("open").copied().unwrap_or(0);
    section(out, "totals", w.totals, |o| {
        o.push_str("<table class=\"figures\" role=\"presentation\"><tr>");
        for (text, n) in [
            (w.parcels, s.parcels),
            (w.with_problems, s.parcels_with_alerts),
            (w.open_problems, open),
            (w.query_errors, s.query_errors),
        ] {
            let _ = write!(o, "<td><b>{n}</b>{}</td>", escape(text));
        }
        o.push_str("</tr></table>\n");
    });
}

/// The largest count first, ties by label.
fn sorted(rows: impl Iterator<Item = (String, u64)>) -> Vec<(String, u64)> {
    let mut rows: Vec<(String, u64)> = rows.collect();
    rows.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    rows
}

fn status_text(code: &str, lang: Language) -> String {
    Status::ALL
        .iter()
        .find(|s| s.as_str() == code)
        .map_or_else(|| code.to_string(), |s| status_label(*s, lang).to_string())
}

fn rule_text(code: &str, lang: Language) -> String {
    Rule::parse(code).map_or_else(|| code.to_string(), |r| rule_label(r, lang).to_string())
}

fn severity_text(code: &str, lang: Language) -> String {
    Severity::parse(code).map_or_else(|| code.to_string(), |s| severity_label(s, lang).to_string())
}

/// `中通快递 (ZTO)`; the code alone when it has no name.
fn carrier_text(code: &str, lang: Language) -> String {
    let name = carrier_display(code, lang);
    if name == code {
        name
    } else {
        format!("{name} ({code})")
    }
}

/// Width of a full bar in the category tables.
const BAR_W: u64 = 240;

/// One row per (label, count): the label, the count as text and an SVG bar
/// scaled to the largest count.
fn bar_table(out: &mut String, title: &str, rows: &[(String, u64)], colour: &str, none: &str) {
    if rows.is_empty() {
        let _ = writeln!(out, "<p class=\"muted\">{}</p>", escape(none));
        return;
    }
    let max = rows.iter().map(|r| r.1).max().unwrap_or(0).max(1);
    let _ = writeln!(
        out,
        "<table class=\"bars\" aria-label=\"{}\">",
        escape(title)
    );
    for (label, n) in rows {
        let width = BAR_W.saturating_mul(*n).div_ceil(max).max(1);
        let _ = writeln!(
            out,
            "<tr><th scope=\"row\">{label}</th><td class=\"n\">{n}</td>\
             <td><svg width=\"{BAR_W}\" height=\"12\" viewBox=\"0 0 {BAR_W} 12\" role=\"img\" aria-label=\"{label} {n}\">\
             <rect x=\"0\" y=\"1\" width=\"{width}\" height=\"10\" fill=\"{colour}\"></rect></svg></td></tr>",
            label = escape(label),
        );
    }
    out.push_str("</table>\n");
}

/// One value of a day.
type Series<'a> = (&'a str, &'a str, fn(&DayCount) -> u64);

/// Vertical bars per day (several series side by side), each bar's count above
/// it and the day of the month below.
fn day_chart(out: &mut String, title: &str, days: &[DayCount], series: &[Series<'_>]) {
    const WIDTH: f64 = 700.0;
    const BASE: f64 = 130.0;
    const TALL: f64 = 105.0;
    let slot = WIDTH / days.len().max(1) as f64;
    let bar = (slot - 8.0) / series.len().max(1) as f64;
    let max = days
        .iter()
        .flat_map(|d| series.iter().map(move |s| (s.2)(d)))
        .max()
        .unwrap_or(0)
        .max(1);
    let _ = writeln!(
        out,
        "<svg width=\"100%\" viewBox=\"0 0 {WIDTH} 150\" role=\"img\" aria-label=\"{}\">",
        escape(title)
    );
    for (i, d) in days.iter().enumerate() {
        let x0 = i as f64 * slot + 4.0;
        for (j, (_, colour, value)) in series.iter().enumerate() {
            let n = value(d);
            let h = TALL * n as f64 / max as f64;
            let x = x0 + j as f64 * bar;
            let _ = writeln!(
                out,
                "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{h:.1}\" fill=\"{colour}\"></rect>\
                 <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{n}</text>",
                BASE - h,
                (bar - 1.0).max(1.0),
                x + bar / 2.0,
                BASE - h - 3.0,
            );
        }
        let day = d.date.get(5..).unwrap_or(&d.date);
        let _ = writeln!(
            out,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
            x0 + (slot - 8.0) / 2.0,
            BASE + 14.0,
            escape(day)
        );
    }
    out.push_str("</svg>\n");
    if series.len() > 1 {
        out.push_str("<p class=\"legend\">");
        for (text, colour, _) in series {
            let _ = write!(
                out,
                "<span><i style=\"background:{colour}\"></i>{}</span>",
                escape(text)
            );
        }
        out.push_str("</p>\n");
    }
}

/// The days' figures as a table (the newest first).
fn day_table(out: &mut String, w: &Words, days: &[DayCount]) {
    let _ = writeln!(
        out,
        "<table class=\"day-table\"><thead><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr></thead><tbody>",
        escape(w.date),
        escape(w.registered),
        escape(w.delivered),
        escape(w.alerts)
    );
    for d in days.iter().rev() {
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            escape(&d.date),
            d.registered,
            d.delivered,
            d.alerts
        );
    }
    out.push_str("</tbody></table>\n");
}

fn delivery_table(out: &mut String, s: &HealthSummary, lang: Language, w: &Words) {
    if s.delivery.is_empty() {
        let _ = writeln!(out, "<p class=\"muted\">{}</p>", escape(w.none));
        return;
    }
    let _ = writeln!(
        out,
        "<table class=\"delivery-table\"><thead><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr></thead><tbody>",
        escape(w.carrier),
        escape(w.delivered),
        escape(w.promised),
        escape(w.on_time_rate),
        escape(w.p50),
        escape(w.p90)
    );
    let dash = || "–".to_string();
    for (carrier, d) in &s.delivery {
        let rate = d
            .on_time_rate
            .map_or_else(dash, |r| format!("{:.1}%", r * 100.0));
        let hours = |h: Option<f64>| h.map_or_else(dash, |h| format!("{h:.1}"));
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{rate}</td>\
             <td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            escape(&carrier_text(carrier, lang)),
            d.delivered,
            d.promised,
            hours(d.transit_hours_p50),
            hours(d.transit_hours_p90)
        );
    }
    out.push_str("</tbody></table>\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::report::CarrierDelivery;
    use std::collections::BTreeMap;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    const HOSTILE: &str = "<script>alert('x')</script>\"&";

    /// A summary with something in every section, and a hostile carrier key.
    fn summary() -> HealthSummary {
        let now = at("2024-11-07T10:00:00Z");
        let mut s = HealthSummary::new(now);
        s.parcels = 42;
        s.parcels_with_alerts = 7;
        s.query_errors = 1;
        s.by_status =
            BTreeMap::from([("InTransit".to_string(), 30), ("Delivered".to_string(), 12)]);
        s.by_carrier = BTreeMap::from([("ZTO".to_string(), 40), (HOSTILE.to_string(), 2)]);
        s.active_alerts = BTreeMap::from([("stalled".to_string(), 5), ("refused".to_string(), 2)]);
        s.problems_by_state = BTreeMap::from([
            ("open".to_string(), 4),
            ("acknowledged".to_string(), 2),
            ("closed".to_string(), 1),
        ]);
        s.problems_by_severity =
            BTreeMap::from([("warning".to_string(), 5), ("critical".to_string(), 2)]);
        let last = s.days.len() - 1;
        s.days[last].registered = 9;
        s.days[last].delivered = 3;
        s.days[last].alerts = 4;
        s.delivery = BTreeMap::from([
            (
                "ZTO".to_string(),
                CarrierDelivery {
                    delivered: 12,
                    promised: 10,
                    on_time: 9,
                    on_time_rate: Some(0.9),
                    transit_hours_p50: Some(30.5),
                    transit_hours_p90: Some(51.0),
                },
            ),
            (HOSTILE.to_string(), CarrierDelivery::default()),
        ]);
        s
    }

    /// The tags a document opens and closes, checked to nest: void elements
    /// (`meta`) aside, every opened tag is closed in order.
    fn assert_balanced(html: &str) {
        let mut stack: Vec<String> = Vec::new();
        let mut rest = html;
        while let Some(i) = rest.find('<') {
            rest = &rest[i + 1..];
            let end = rest.find('>').expect("a tag is closed by >");
            let tag = &rest[..end];
            rest = &rest[end + 1..];
            if tag.starts_with('!') {
                continue;
            }
            let closing = tag.starts_with('/');
            let name: String = tag
                .trim_start_matches('/')
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric())
                .collect::<String>()
                .to_ascii_lowercase();
            assert!(!name.is_empty(), "a tag without a name: <{tag}>");
            if name == "meta" {
                continue;
            }
            if closing {
                let open = stack
                    .pop()
                    .unwrap_or_else(|| panic!("</{name}> never opened"));
                assert_eq!(open, name, "</{name}> closes <{open}>");
            } else {
                stack.push(name);
            }
        }
        assert!(stack.is_empty(), "never closed: {stack:?}");
    }

    #[test]
    fn outside_text_is_escaped() {
        for lang in [Language::Zh, Language::En] {
            let html = fleet_html(&summary(), lang, at("2024-11-07T10:00:00Z"));
            assert!(!html.contains("<script"), "{html}");
            assert!(!html.contains("alert('x')"));
            assert!(
                html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&quot;&amp;"),
                "{html}"
            );
        }
        assert_eq!(
            escape(r#"<a href="x">Tom & 'Jerry'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;Tom &amp; &#39;Jerry&#39;&lt;/a&gt;"
        );
    }

    #[test]
    fn every_section_is_there_with_its_figures_and_charts() {
        let html = fleet_html(&summary(), Language::Zh, at("2024-11-07T10:00:00Z"));
        for id in [
            "totals",
            "by-status",
            "by-carrier",
            "problems",
            "by-rule",
            "by-severity",
            "by-state",
            "days",
            "delivery",
        ] {
            assert!(html.contains(&format!("id=\"{id}\"")), "section {id}");
        }
        // Title and date in China time (10:00 UTC is 18:00 in China).
        assert!(html.contains("<title>包裹哨兵 · 全局健康 2024-11-07 18:00</title>"));
        assert!(html.contains("<b>42</b>包裹总数"));
        assert!(html.contains("<b>7</b>有问题的包裹"));
        assert!(html.contains("<b>4</b>待处理问题"));
        // Charts: a bar per category row, the days as bars with their counts.
        assert!(html.matches("<svg").count() >= 2 + 2 + 2 + 2 + 3 + 2);
        assert!(html.contains("aria-label=\"物流停滞 5\""), "{html}");
        assert!(html.contains("<th scope=\"row\">中通快递 (ZTO)</th><td class=\"n\">40</td>"));
        assert!(html.contains("<th scope=\"row\">运输中</th><td class=\"n\">30</td>"));
        assert!(html.contains("已认领"));
        assert!(html.contains("<text x=") && html.contains(">11-07</text>"));
        assert!(html.contains(
            "<td>2024-11-07</td><td class=\"n\">9</td><td class=\"n\">3</td><td class=\"n\">4</td>"
        ));
        // Delivery: rate as a percentage, hours with one decimal, dashes when absent.
        assert!(html.contains("90.0%") && html.contains("30.5") && html.contains("51.0"));
        assert!(html.contains("<td class=\"n\">–</td>"));
        assert_balanced(&html);
    }

    #[test]
    fn the_file_stands_alone() {
        let html = fleet_html(&summary(), Language::En, at("2024-11-07T10:00:00Z"));
        assert!(html.starts_with("<!doctype html>"));
        assert!(html.contains("<style>"));
        for outside in [
            "<script", "src=", "href=", "http:", "https:", "url(", "@import",
        ] {
            assert!(!html.contains(outside), "{outside}");
        }
        assert_balanced(&html);
    }

    #[test]
    fn both_languages() {
        let zh = fleet_html(&summary(), Language::Zh, at("2024-11-07T10:00:00Z"));
        let en = fleet_html(&summary(), Language::En, at("2024-11-07T10:00:00Z"));
        assert!(zh.contains("<html lang=\"zh-CN\">") && zh.contains("按快递"));
        assert!(zh.contains("物流停滞") && zh.contains("严重"));
        assert!(en.contains("<html lang=\"en\">"));
        for text in [
            "Parcel Sentinel · Fleet health",
            "By carrier",
            "ZTO Express (ZTO)",
            "Stalled",
            "critical",
            "Acknowledged",
            "On time",
            "Alerts per day (14 days)",
        ] {
            assert!(en.contains(text), "{text}");
        }
        assert!(!en.contains("按快递") && !en.contains("物流停滞"));
        assert_balanced(&zh);
        assert_balanced(&en);
    }

    #[test]
    fn an_empty_fleet_says_so_without_dividing_by_zero() {
        let html = fleet_html(
            &HealthSummary::new(at("2024-11-07T10:00:00Z")),
            Language::En,
            at("2024-11-07T10:00:00Z"),
        );
        assert!(html.contains("<b>0</b>Parcels"));
        assert!(html.contains("None"));
        assert!(!html.contains("NaN") && !html.contains(">inf"));
        assert_eq!(html.matches(">0</text>").count(), 14 * 3, "each day's bars");
        assert_balanced(&html);
    }
}
