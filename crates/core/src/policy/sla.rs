//! sla.toml: customer service tiers and their time limits (SLA-02 quotas, SLA-03 assurance matrix, SLA-04 stage
//! limit tables, SLA-05 access-point scaling).

use std::collections::{BTreeMap, HashSet};

use serde::{Deserialize, Serialize};

use super::error::Issue;
use super::units::{check_key, check_non_empty, check_rule_id, PolicyDuration};
use crate::sla::{
    scale_for_access_points, AssuranceLevel, ScalingMode, SlaError, StageLimit, Tier,
};

/// The whole SLA policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlaPolicy {
    /// Calendar of calendars.toml on which working days are counted (C-2); its daily hours are one working day.
    pub calendar: String,
    /// SLA-02 quotas, one per constrained tier.
    #[serde(rename = "quota", default)]
    pub quotas: Vec<TierQuota>,
    /// SLA-03 service types a customer's services are classified by.
    #[serde(rename = "service_type", default)]
    pub service_types: Vec<ServiceType>,
    /// SLA-03 tier × service type → assurance level.
    pub assurance: AssuranceMatrix,
    /// SLA-05 access-point scaling.
    pub access_points: AccessPointRule,
    /// SLA-04 stage limit tables.
    #[serde(rename = "stage", default)]
    pub stages: Vec<Stage>,
    /// What is queued when a provisioning order's durable deadline clock passes unmet.
    pub breach: SlaBreachNotice,
    /// The network-quality standard of leased lines per assurance level (KPI-09); absent → KPI-09 is not scored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_quality: Option<NetworkQuality>,
    /// Seconds in one working day on `calendar`, filled in at load from calendars.toml.
    #[serde(skip)]
    pub day_seconds: i64,
}

/// An order's deadline passed unmet: the template of notifications.toml queued and the roles it goes to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlaBreachNotice {
    /// Template of notifications.toml.
    pub template: String,
    /// Roles of roles.toml told.
    pub roles: Vec<String>,
}

/// SLA-03/SLA-04: the annual network-quality standard of a leased line, per service assurance level. The seed
/// names it but its table is missing, so the default pack has none; an operator who has the real table adds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkQuality {
    /// Rule ID of the standard (SLA-04).
    pub rule: String,
    /// How a line's faults of the year become its repeat count.
    #[serde(default)]
    pub repeat_count: RepeatCount,
    /// The standard of each level; all four levels are required (a partial table would silently skip lines).
    pub levels: BTreeMap<AssuranceLevel, LineStandard>,
}

/// How repeats are counted from a line's faults of the year (KPI-09 「故障重复发生次数」).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RepeatCount {
    /// Proposed default: the first fault is not a repeat; repeats = faults − 1.
    #[default]
    AfterFirst,
    /// Every fault counts.
    EveryFault,
}

/// The standard of one level: the line fails it with more repeats or more interruption than these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LineStandard {
    /// Repeat faults allowed in a year.
    pub max_repeat_faults: u32,
    /// Interruption allowed in a year (wall clock, e.g. `8h`).
    pub max_interruption: PolicyDuration,
}

/// SLA-02: a tier may hold at most `max_percent` % of all group customers (floor).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TierQuota {
    /// Rule ID (SLA-02).
    pub rule: String,
    /// The constrained tier.
    pub tier: Tier,
    /// Its share of all group customers, in percent.
    pub max_percent: u32,
}

/// A service type of the SLA-03 matrix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceType {
    /// Stable key.
    pub key: String,
    /// Chinese name.
    pub name_zh: String,
}

/// SLA-03: the level a service gets from its customer's tier, unless an override names the service type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssuranceMatrix {
    /// Rule ID (SLA-03).
    pub rule: String,
    /// Level per tier for every service type without an override (must name all five tiers).
    pub default: BTreeMap<Tier, AssuranceLevel>,
    /// Cells that differ from the default.
    #[serde(rename = "override", default)]
    pub overrides: Vec<AssuranceOverride>,
}

/// One cell of the SLA-03 matrix that differs from its tier's default.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssuranceOverride {
    /// Service type key.
    pub service_type: String,
    /// Tier.
    pub tier: Tier,
    /// Level.
    pub level: AssuranceLevel,
}

/// SLA-05: limits apply to up to `included` access points; beyond, they scale by `rounding`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessPointRule {
    /// Rule ID (SLA-05).
    pub rule: String,
    /// Access points covered by the base limit (5).
    pub included: u32,
    /// How a scaled limit is rounded.
    pub rounding: ScalingMode,
}

/// One SLA-04 stage and its limit per tier; a tier without a cell has no limit and none is invented.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stage {
    /// Stable key (`construction_survey`).
    pub key: String,
    /// Rule ID.
    pub rule: String,
    /// Chinese name.
    pub name_zh: String,
    /// Whether SLA-05 scaling applies (survey and provisioning stages).
    #[serde(default)]
    pub scales_with_access_points: bool,
    /// The tier whose limit applies when none was requested (SLA-04: bronze for the existing-network survey).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_tier: Option<Tier>,
    /// The known cells.
    #[serde(default)]
    pub limits: BTreeMap<Tier, StageLimit>,
}

impl SlaPolicy {
    /// The stage called `key`.
    pub fn stage(&self, key: &str) -> Option<&Stage> {
        self.stages.iter().find(|s| s.key == key)
    }

    /// The limit of `stage` for `tier` (`None`: none requested) and `access_points`, scaled by SLA-05; refused
    /// with SLA-04 "SLA table incomplete" when the cell is empty.
    pub fn limit(
        &self,
        stage: &str,
        tier: Option<Tier>,
        access_points: u32,
    ) -> Result<StageLimit, SlaError> {
        let s = self
            .stage(stage)
            .ok_or_else(|| SlaError::UnknownStage(stage.to_string()))?;
        let tier = tier.or(s.default_tier).unwrap_or(Tier::Bronze);
        let base = *s
            .limits
            .get(&tier)
            .ok_or_else(|| SlaError::TableIncomplete {
                stage: stage.to_string(),
                tier,
            })?;
        match base {
            StageLimit::WorkingDays(w) if s.scales_with_access_points => scale_for_access_points(
                w,
                access_points,
                self.access_points.included,
                self.access_points.rounding,
            )
            .map(StageLimit::WorkingDays)
            .ok_or(SlaError::NoAccessPoints),
            other => Ok(other),
        }
    }

    /// SLA-03: the assurance level of a service of `service_type` for a customer of `tier`.
    pub fn assurance_level(
        &self,
        tier: Tier,
        service_type: &str,
    ) -> Result<AssuranceLevel, SlaError> {
        if !self.service_types.iter().any(|t| t.key == service_type) {
            return Err(SlaError::UnknownServiceType(service_type.to_string()));
        }
        let cell = self
            .assurance
            .overrides
            .iter()
            .find(|o| o.service_type == service_type && o.tier == tier)
            .map(|o| o.level);
        // Validation guarantees every tier has a default.
        Ok(cell
            .or_else(|| self.assurance.default.get(&tier).copied())
            .unwrap_or(AssuranceLevel::Normal))
    }

    /// Every role the file sends to, with its path (cross-checked at load).
    pub(crate) fn role_refs(&self) -> Vec<(String, &str)> {
        self.breach
            .roles
            .iter()
            .enumerate()
            .map(|(j, r)| (format!("breach.roles[{j}]"), r.as_str()))
            .collect()
    }

    pub(crate) fn validate(&self, issues: &mut Vec<Issue>) {
        check_non_empty("breach.template", &self.breach.template, issues);
        if self.breach.roles.is_empty() {
            issues.push(Issue::new(
                "breach.roles",
                "name at least one role to tell when an order's deadline passes",
            ));
        }
        let mut tiers = HashSet::new();
        let mut percent = 0;
        for (i, q) in self.quotas.iter().enumerate() {
            let at = |f: &str| format!("quota[{i}].{f}");
            check_rule_id(&at("rule"), &q.rule, issues);
            if !tiers.insert(q.tier) {
                issues.push(Issue::new(
                    at("tier"),
                    format!("{} has more than one quota", q.tier),
                ));
            }
            if q.tier == Tier::KeyAssurance {
                issues.push(Issue::new(
                    at("tier"),
                    "key-assurance customers are outside the quota (SLA-02)",
                ));
            }
            if !(1..=100).contains(&q.max_percent) {
                issues.push(Issue::new(at("max_percent"), "must be 1..=100"));
            }
            percent += q.max_percent;
        }
        if percent > 100 {
            issues.push(Issue::new(
                "quota",
                format!("quotas add up to {percent} %, more than all customers"),
            ));
        }
        let mut types = HashSet::new();
        for (i, t) in self.service_types.iter().enumerate() {
            check_key(&format!("service_type[{i}].key"), &t.key, issues);
            check_non_empty(&format!("service_type[{i}].name_zh"), &t.name_zh, issues);
            if !types.insert(t.key.as_str()) {
                issues.push(Issue::new(
                    format!("service_type[{i}].key"),
                    format!("duplicate service type '{}'", t.key),
                ));
            }
        }
        check_rule_id("assurance.rule", &self.assurance.rule, issues);
        for t in Tier::ALL {
            if !self.assurance.default.contains_key(&t) {
                issues.push(Issue::new(
                    "assurance.default",
                    format!("no level for tier {t} (SLA-03 needs all five)"),
                ));
            }
        }
        let mut cells = HashSet::new();
        for (i, o) in self.assurance.overrides.iter().enumerate() {
            let at = |f: &str| format!("assurance.override[{i}].{f}");
            if !types.contains(o.service_type.as_str()) {
                issues.push(Issue::new(
                    at("service_type"),
                    format!("no [[service_type]] with key '{}'", o.service_type),
                ));
            }
            if !cells.insert((o.service_type.as_str(), o.tier)) {
                issues.push(Issue::new(
                    at("tier"),
                    format!("{} × {} is given twice", o.service_type, o.tier),
                ));
            }
        }
        if let Some(n) = &self.network_quality {
            check_rule_id("network_quality.rule", &n.rule, issues);
            for level in AssuranceLevel::ALL {
                match n.levels.get(&level) {
                    None => issues.push(Issue::new(
                        "network_quality.levels",
                        format!(
                            "no standard for level {level}: give all four (AAA, AA, A, normal) or leave [network_quality] out"
                        ),
                    )),
                    Some(s) if s.max_interruption.seconds() <= 0 => issues.push(Issue::new(
                        format!("network_quality.levels.{level}.max_interruption"),
                        "must be longer than zero",
                    )),
                    Some(_) => {}
                }
            }
        }
        check_rule_id("access_points.rule", &self.access_points.rule, issues);
        if self.access_points.included == 0 {
            issues.push(Issue::new("access_points.included", "must be at least 1"));
        }
        let mut keys = HashSet::new();
        for (i, s) in self.stages.iter().enumerate() {
            let at = |f: &str| format!("stage[{i}].{f}");
            check_key(&at("key"), &s.key, issues);
            if !keys.insert(s.key.as_str()) {
                issues.push(Issue::new(
                    at("key"),
                    format!("duplicate stage '{}'", s.key),
                ));
            }
            check_rule_id(&at("rule"), &s.rule, issues);
            check_non_empty(&at("name_zh"), &s.name_zh, issues);
            if let Some(t) = s.default_tier {
                if !s.limits.contains_key(&t) {
                    issues.push(Issue::new(
                        at("default_tier"),
                        format!("the default tier {t} has no limit in this stage"),
                    ));
                }
            }
            if s.scales_with_access_points {
                for (t, l) in &s.limits {
                    if matches!(l, StageLimit::WallClock(_)) {
                        issues.push(Issue::new(
                            format!("stage[{i}].limits.{t}"),
                            "SLA-05 scales working-day limits only; write this cell in wd",
                        ));
                    }
                }
            }
            for (t, l) in &s.limits {
                if l.seconds(1) == 0 {
                    issues.push(Issue::new(
                        format!("stage[{i}].limits.{t}"),
                        "a limit must be longer than zero",
                    ));
                }
            }
        }
    }
}
