//! Alert messages as people read them: the multi-line ops text, a one-line ops SMS,
//! an ASCII email subject, and a polite SMS to the recipient — in Chinese (the
//! default) or English, with per-rule templates an operator can replace.
//!
//! ## Templates
//!
//! Each rule has an *ops template* — the sentence saying what happened, e.g.
//! `自 {since} 起已 {hours} 小时没有新的物流轨迹` — and a *customer template*, the body
//! of the SMS to the recipient. The messages frame the ops sentence with a headline
//! that says what kind of alert it is (【预警】, 【升级为严重】, 【仍未解决】,
//! 【已恢复】 / `[Warning]`, `[Escalated to critical]`...), the rule, the carrier,
//! the tracking number and the order.
//!
//! | variable | meaning | default |
//! |---|---|---|
//! | `ALERT_LANGUAGE` | `zh` or `en` (also `zh-CN`, `zh-Hans`, `en-US`, `en-GB`) | `zh` |
//! | `ALERT_TEMPLATES_FILE` | JSON object `{"stalled": "...", ...}` of ops templates | none |
//! | `ALERT_TEMPLATE_<RULE>` | the ops template of one rule (wins over the file) | built in |
//! | `CUSTOMER_TEMPLATE_<RULE>` | the customer template of one rule | built in |
//! | `CONSOLE_URL` | the console page's address: ops messages link each parcel to it | none |
//!
//! `<RULE>` is the rule name in upper case: `ALERT_TEMPLATE_STALLED`,
//! `CUSTOMER_TEMPLATE_DELIVERY_FAILED`... An empty variable counts as unset.
//!
//! Placeholders (see [`Placeholder`]): `{tracking_number}`, `{tail}` (last four
//! characters of the tracking number), `{carrier}` (display name), `{carrier_code}`,
//! `{order_id}`, `{since}` and `{at}` (China time, `YYYY-MM-DD HH:MM`), `{hours}`
//! (whole hours from `since` to `at`), `{status}`, `{last_trace}` (time and text of
//! the newest trace, phone numbers masked), `{rule}`, `{severity}`, and, in customer
//! templates only, `{shop}`. `{{` and `}}` are literal braces. A template is checked
//! when it is loaded: an unknown placeholder or an unclosed `{` is a
//! [`ConfigError`](crate::config::ConfigError) naming the variable (or the file and
//! its key), never a failure at send time.
//!
//! Phone numbers in carrier text and in the shop name are masked everywhere; the
//! recipient's phone is not part of a [`Notification`](crate::domain::Notification)
//! at all.
//!
//! ## Layout
//!
//! - `language`: [`Language`] and how `ALERT_LANGUAGE` is read;
//! - `labels`: names for people — rules, severities, statuses, carriers and the
//!   headline of each kind of alert;
//! - `texts`: the built-in ops and customer sentences of every rule;
//! - `template`: one template — [`Placeholder`]s, parsing when loaded, filling
//!   when sent;
//! - `fit`: one line and length limits — phone masking of carrier text, cutting
//!   to one SMS ([`SMS_MAX_CHARS`], [`SMS_MAX_ASCII`]) or an email subject
//!   ([`SUBJECT_LIMIT`]);
//! - `render`: [`Templates`], the templates of every rule, and the messages made
//!   from them ([`Templates::render`], [`Templates::sms`],
//!   [`Templates::subject`], [`Templates::customer_notice`], [`describe_zh`],
//!   [`render_zh`]);
//! - `env`: loading [`Templates`] from the environment and the template file.

mod env;
mod fit;
#[cfg(test)]
mod fixtures;
mod labels;
mod language;
mod link;
mod render;
mod template;
mod texts;

pub use env::{ALERT_TEMPLATE_VARS, CUSTOMER_TEMPLATE_VARS, TEMPLATES_FILE_VAR};
pub(crate) use fit::{one_line, trace_text, truncate_bytes};
pub use fit::{SMS_MAX_ASCII, SMS_MAX_CHARS, SUBJECT_LIMIT};
pub use labels::{carrier_display, headline, rule_label, severity_label, status_label};
pub use language::{Language, LANGUAGE_VAR};
pub use link::{ConsoleUrl, CONSOLE_URL_VAR};
pub use render::{describe_zh, render_zh, Templates};
pub use template::Placeholder;

use crate::domain::Rule;

fn rule_index(rule: Rule) -> usize {
    rule as usize
}
