//! Inhibition (`ALERT_INHIBIT`), in the spirit of Alertmanager's `inhibit_rules`:
//! while a parcel has an active finding of a *source* rule, its alerts of the
//! *target* rules are kept (they are problems in the queue, shown on the parcel)
//! but not notified. A parcel with no scan a day after it was registered holds
//! both `no_trace` and `no_pickup`; the default `no_trace>no_pickup` makes that one
//! message, not two; likewise `stalled>slow_lane`: a silence `stalled` already
//! tells needs no second message from the lane rule that saw it first. When the
//! source clears while the target still holds, the target is told then (see
//! [`crate::lifecycle::reconcile_with`]).

use crate::config::ConfigError;
use crate::domain::Rule;

/// The variable.
pub const VAR: &str = "ALERT_INHIBIT";

/// Source → target pairs: an active source silences the targets' notifications.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Inhibitions {
    pairs: Vec<(Rule, Rule)>,
}

impl Default for Inhibitions {
    /// `no_trace>no_pickup;stalled>slow_lane`.
    fn default() -> Self {
        Self {
            pairs: vec![
                (Rule::NoTrace, Rule::NoPickup),
                (Rule::Stalled, Rule::SlowLane),
            ],
        }
    }
}

impl Inhibitions {
    /// No inhibition: every alert is told.
    pub fn none() -> Self {
        Self { pairs: Vec::new() }
    }

    /// `SOURCE>TARGET[,TARGET…]` clauses separated by `;`, e.g.
    /// `no_trace>no_pickup;stalled>hub_dwell`, or `off`/`none`. A rule may not
    /// silence itself, and no two rules may silence each other through any chain
    /// (both would go quiet).
    pub fn parse(raw: &str) -> Result<Self, ConfigError> {
        const SHAPE: &str =
            "expected SOURCE>TARGET[,TARGET] clauses separated by ;, e.g. no_trace>no_pickup, or off";
        let bad = |token: &str, reason: String| ConfigError {
            var: VAR,
            token: token.trim().to_string(),
            reason,
        };
        let t = raw.trim();
        if t.eq_ignore_ascii_case("off") || t.eq_ignore_ascii_case("none") {
            return Ok(Self::none());
        }
        let rule = |name: &str, clause: &str| {
            Rule::parse(name.trim()).ok_or_else(|| {
                let names: Vec<&str> = Rule::ALL.iter().map(|r| r.as_str()).collect();
                bad(
                    clause,
                    format!(
                        "unknown rule {:?}; known rules: {}",
                        crate::clip::clip(name.trim()),
                        names.join(", ")
                    ),
                )
            })
        };
        let mut pairs = Vec::new();
        for clause in t.split(';').map(str::trim).filter(|c| !c.is_empty()) {
            let (source, targets) = clause
                .split_once('>')
                .ok_or_else(|| bad(clause, SHAPE.into()))?;
            let source = rule(source, clause)?;
            let mut any = false;
            for target in targets.split(',').filter(|x| !x.trim().is_empty()) {
                let target = rule(target, clause)?;
                if target == source {
                    return Err(bad(clause, "a rule cannot silence itself".into()));
                }
                if !pairs.contains(&(source, target)) {
                    pairs.push((source, target));
                }
                any = true;
            }
            if !any {
                return Err(bad(clause, SHAPE.into()));
            }
        }
        let me = Self { pairs };
        if let Some((a, b)) = me.cycle() {
            return Err(bad(
                raw,
                format!("{a} and {b} would silence each other; keep one direction"),
            ));
        }
        Ok(me)
    }

    pub fn pairs(&self) -> &[(Rule, Rule)] {
        &self.pairs
    }

    /// Whether `target`'s notifications are silenced while `active` says which
    /// rules hold on the parcel now.
    pub fn silences(&self, target: Rule, active: impl Fn(Rule) -> bool) -> bool {
        self.pairs
            .iter()
            .any(|&(source, t)| t == target && active(source))
    }

    /// Two rules that reach each other through the pairs.
    fn cycle(&self) -> Option<(Rule, Rule)> {
        let reaches = |from: Rule, to: Rule| {
            let mut seen = vec![from];
            let mut next = vec![from];
            while let Some(r) = next.pop() {
                for &(s, t) in &self.pairs {
                    if s == r && !seen.contains(&t) {
                        if t == to {
                            return true;
                        }
                        seen.push(t);
                        next.push(t);
                    }
                }
            }
            false
        };
        self.pairs
            .iter()
            .find(|&&(s, t)| reaches(t, s))
            .map(|&(s, t)| (s, t))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_clauses_and_off() {
        let i = Inhibitions::parse(" no_trace>no_pickup ; stalled > hub_dwell, late ").unwrap();
        assert_eq!(
            i.pairs(),
            [
                (Rule::NoTrace, Rule::NoPickup),
                (Rule::Stalled, Rule::HubDwell),
                (Rule::Stalled, Rule::Late)
            ]
        );
        assert_eq!(Inhibitions::parse("off").unwrap(), Inhibitions::none());
        assert_eq!(Inhibitions::parse("NONE").unwrap(), Inhibitions::none());
        assert_eq!(
            Inhibitions::default().pairs(),
            [
                (Rule::NoTrace, Rule::NoPickup),
                (Rule::Stalled, Rule::SlowLane)
            ]
        );
        assert_eq!(
            Inhibitions::parse("no_trace>no_pickup;stalled>slow_lane").unwrap(),
            Inhibitions::default()
        );
    }

    #[test]
    fn refuses_bad_clauses_naming_them() {
        for (raw, token, why) in [
            ("no_trace", "no_trace", "expected SOURCE>TARGET"),
            ("no_trace>", "no_trace>", "expected SOURCE>TARGET"),
            ("no_trace>flying", "no_trace>flying", "unknown rule"),
            ("stalled>stalled", "stalled>stalled", "itself"),
            (
                "stalled>hub_dwell;hub_dwell>stalled",
                "stalled>hub_dwell;hub_dwell>stalled",
                "each other",
            ),
            ("a>b", "a>b", "unknown rule"),
        ] {
            let e = Inhibitions::parse(raw).unwrap_err();
            assert_eq!((e.var, e.token.as_str()), (VAR, token), "{raw}");
            assert!(e.reason.contains(why), "{raw}: {}", e.reason);
        }
        // A longer loop is a loop too.
        let e = Inhibitions::parse("stalled>hub_dwell;hub_dwell>late;late>stalled").unwrap_err();
        assert!(e.reason.contains("each other"), "{}", e.reason);
    }

    #[test]
    fn an_active_source_silences_its_targets_only() {
        let i = Inhibitions::default();
        assert!(i.silences(Rule::NoPickup, |r| r == Rule::NoTrace));
        assert!(!i.silences(Rule::NoPickup, |r| r == Rule::Stalled));
        assert!(!i.silences(Rule::NoTrace, |r| r == Rule::NoPickup));
        assert!(!Inhibitions::none().silences(Rule::NoPickup, |_| true));
    }
}
