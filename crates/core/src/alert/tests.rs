//! Alert rules against the default monitoring.toml (MON-04, MON-06).

use super::*;
use crate::policy::PolicyPack;

fn pack() -> PolicyPack {
    PolicyPack::load_dir(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../policies/default"
    ))
    .unwrap_or_else(|e| panic!("default pack:\n{e}"))
}

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

const MIN: i64 = 60_000_000;

#[test]
fn matchers_follow_alertmanager_semantics() {
    let l = labels(&[("severity", "critical"), ("system", "crm")]);
    let m = |s: &str| s.parse::<Matcher>().unwrap();
    assert!(m("severity=critical").matches(&l));
    assert!(m("severity=\"critical\"").matches(&l));
    assert!(!m("severity!=critical").matches(&l));
    assert!(m("severity=~crit.*|severe").matches(&l));
    // Anchored: a partial match is no match.
    assert!(!m("severity=~crit").matches(&l));
    assert!(m("system!~billing|agent-portal").matches(&l));
    // A missing label is the empty string.
    assert!(m("region=").matches(&l));
    assert!(m("region!~.+").matches(&l));
    assert!(!m("region=~.+").matches(&l));
}

#[test]
fn malformed_matchers_are_refused_with_a_reason() {
    assert!("severity".parse::<Matcher>().is_err());
    assert!("=x".parse::<Matcher>().is_err());
    assert!("1abc=x".parse::<Matcher>().is_err());
    let e = "severity=~(".parse::<Matcher>().unwrap_err();
    assert!(e.contains("regex"), "{e}");
}

#[test]
fn same_labels_same_dedup_key_in_any_order() {
    let a = labels(&[("alertname", "CrmDown"), ("system", "crm")]);
    let mut b = Labels::new();
    b.insert("system".into(), "crm".into());
    b.insert("alertname".into(), "CrmDown".into());
    assert_eq!(alertmanager_dedup_key(&a), alertmanager_dedup_key(&b));
    let c = labels(&[("alertname", "CrmDown"), ("system", "billing")]);
    assert_ne!(alertmanager_dedup_key(&a), alertmanager_dedup_key(&c));
    // A label name/value boundary cannot be shifted to forge the same key.
    let d = labels(&[("ab", "c")]);
    let e = labels(&[("a", "bc")]);
    assert_ne!(fingerprint(&d), fingerprint(&e));
    assert_eq!(event_dedup_key("probe-7"), "ev:probe-7");
}

/// MON-04 (proposed default): alerts sharing system, region and alertname within the window are one group.
#[test]
fn mon_04_grouping_by_labels_within_the_window() {
    let p = pack().monitoring;
    let a = labels(&[
        ("system", "crm"),
        ("region", "guangzhou"),
        ("alertname", "Slow"),
        ("instance", "a"),
    ]);
    let b = labels(&[
        ("system", "crm"),
        ("region", "guangzhou"),
        ("alertname", "Slow"),
        ("instance", "b"),
    ]);
    let c = labels(&[
        ("system", "crm"),
        ("region", "shenzhen"),
        ("alertname", "Slow"),
    ]);
    assert_eq!(group_key(&p.grouping, &a), group_key(&p.grouping, &b));
    assert_ne!(group_key(&p.grouping, &a), group_key(&p.grouping, &c));
    let window = p.grouping.window.seconds() * 1_000_000;
    assert!(joins_group(&p.grouping, 0, window - 1));
    assert!(!joins_group(&p.grouping, 0, window));
}

/// MON-04 (proposed default): 4 state changes within 30 minutes → flapping; 3, or 4 spread wider, are not.
#[test]
fn mon_04_flapping_after_n_changes_within_m_minutes() {
    let p = pack().monitoring;
    let now = 100 * MIN;
    assert!(is_flapping(
        &p.flapping,
        &[now - 25 * MIN, now - 20 * MIN, now - 10 * MIN, now],
        now
    ));
    assert!(!is_flapping(
        &p.flapping,
        &[now - 20 * MIN, now - 10 * MIN, now],
        now
    ));
    assert!(!is_flapping(
        &p.flapping,
        &[now - 31 * MIN, now - 20 * MIN, now - 10 * MIN, now],
        now
    ));
}

/// MON-06: severe alarms go to the deputy director in charge and the maintainers (the duty officer now).
#[test]
fn mon_06_severe_alarm_goes_to_the_deputy_director_and_maintainers() {
    let p = pack().monitoring;
    let r = routes_for(&p, &labels(&[("severity", "critical"), ("system", "crm")]));
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].key, "severe");
    assert!(r[0].roles.contains(&"deputy_director".to_string()));
    assert!(r[0].on_duty);
    assert_eq!(r[0].ticket, crate::policy::TicketAction::AttachOrOpen);
}

/// MON-06: general alarms go to the maintainers only (never the deputy director).
#[test]
fn mon_06_general_alarm_goes_to_maintainers_only() {
    let p = pack().monitoring;
    let r = routes_for(&p, &labels(&[("severity", "warning"), ("system", "crm")]));
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].key, "general");
    assert!(!r[0].roles.contains(&"deputy_director".to_string()));
    // No labels at all still reaches someone (the fallback route).
    let r = routes_for(&p, &Labels::new());
    assert_eq!(r[0].key, "general");
}

/// MON-04: an agent-portal anomaly reaches the duty officer at once.
#[test]
fn mon_04_agent_portal_anomaly_reaches_the_duty_officer() {
    let p = pack().monitoring;
    let r = routes_for(
        &p,
        &labels(&[("severity", "warning"), ("system", "agent-portal")]),
    );
    assert_eq!(r[0].key, "agent_portal");
    assert!(r[0].on_duty);
}

#[test]
fn continue_adds_later_matching_routes() {
    let mut p = pack().monitoring;
    p.routes[0].continue_matching = true;
    let r = routes_for(
        &p,
        &labels(&[("severity", "critical"), ("system", "agent-portal")]),
    );
    let keys: Vec<&str> = r.iter().map(|r| r.key.as_str()).collect();
    assert_eq!(keys, ["severe", "agent_portal"]);
}

#[test]
fn maintenance_before_silence_before_flapping_before_grouping() {
    let p = pack().monitoring;
    let l = labels(&[("system", "crm"), ("severity", "critical")]);
    let now = 100 * MIN;
    let mute = |id, m: &str, from, to| Mute {
        id,
        matchers: vec![m.parse().unwrap()],
        starts_at: from,
        ends_at: to,
    };
    let silences = [mute(1, "system=crm", now - MIN, now + MIN)];
    let maint = [mute(2, "system=~crm|billing", now - MIN, now + MIN)];
    let flaps = [now - 3 * MIN, now - 2 * MIN, now - MIN, now];
    let s = |sil: &'static [Mute], mw: &'static [Mute], changes: &'static [i64], grouped| {
        let l = Box::leak(Box::new(l.clone()));
        suppression(
            &p,
            &AlertSituation {
                labels: l,
                now,
                state_changes: changes,
                grouped,
                silences: sil,
                maintenance: mw,
            },
        )
    };
    let silences: &'static [Mute] = Box::leak(Box::new(silences));
    let maint: &'static [Mute] = Box::leak(Box::new(maint));
    let flaps: &'static [i64] = Box::leak(Box::new(flaps));
    assert_eq!(
        s(silences, maint, flaps, true),
        Some(Suppression::Maintenance(2))
    );
    assert_eq!(
        s(silences, &[], flaps, true),
        Some(Suppression::Silenced(1))
    );
    assert_eq!(s(&[], &[], flaps, true), Some(Suppression::Flapping));
    assert_eq!(s(&[], &[], &[], true), Some(Suppression::Grouped));
    assert_eq!(s(&[], &[], &[], false), None);
}

#[test]
fn expired_or_future_silences_do_not_mute() {
    let l = labels(&[("system", "crm")]);
    let m = Mute {
        id: 1,
        matchers: vec!["system=crm".parse().unwrap()],
        starts_at: 10,
        ends_at: 20,
    };
    assert!(!m.mutes(&l, 9));
    assert!(m.mutes(&l, 10));
    assert!(!m.mutes(&l, 20));
    assert!(!m.mutes(&labels(&[("system", "billing")]), 15));
}
