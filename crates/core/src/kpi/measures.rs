//! The measures the records layer computes for a period and a unit (branch, province, vendor). Indicators in
//! kpi.toml refer to them by key; a key not listed here is refused at load (file:line:field).

use serde::Serialize;

/// What a measure yields.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MeasureShape {
    /// A set of records (counted; ratios divide two of them).
    Count,
    /// Per-record overruns of a time limit, each with the customer's tier.
    Overrun,
    /// A yes/no finding with the records behind it.
    Flag,
    /// A rate in percent: a `[[ratio]]` of kpi.toml over two counts.
    Rate,
}

/// One measure known to the records layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct MeasureDef {
    /// Key used in kpi.toml.
    pub key: &'static str,
    /// What it yields.
    pub shape: MeasureShape,
    /// What it counts.
    pub description: &'static str,
}

/// Every base measure (ratios are defined over these in kpi.toml).
pub const MEASURES: &[MeasureDef] = &[
    MeasureDef {
        key: "provisioning_orders",
        shape: MeasureShape::Count,
        description: "provisioning orders completed in the period (SLA-06)",
    },
    MeasureDef {
        key: "provisioning_orders_on_time",
        shape: MeasureShape::Count,
        description: "of those, completed within their limit with no SLA-07 overdue",
    },
    MeasureDef {
        key: "acceptances",
        shape: MeasureShape::Count,
        description: "initial acceptances held in the period (SLA-09)",
    },
    MeasureDef {
        key: "acceptances_passed",
        shape: MeasureShape::Count,
        description: "of those, passed at the first attempt",
    },
    MeasureDef {
        key: "complaints",
        shape: MeasureShape::Count,
        description: "group-customer complaints closed in the period (KPI-08)",
    },
    MeasureDef {
        key: "complaints_on_time",
        shape: MeasureShape::Count,
        description:
            "of those, closed by the handling deadline customer service set with the complaint",
    },
    MeasureDef {
        key: "existing_network_survey_overrun",
        shape: MeasureShape::Overrun,
        description: "existing-network resource surveys: working time beyond the SLA-04 limit",
    },
    MeasureDef {
        key: "construction_survey_overrun",
        shape: MeasureShape::Overrun,
        description: "construction resource surveys: working time beyond the SLA-04/SLA-05 limit",
    },
    MeasureDef {
        key: "data_configuration_overrun",
        shape: MeasureShape::Overrun,
        description: "data configurations: time from notification to start beyond the limit",
    },
    MeasureDef {
        key: "fault_handling_overrun",
        shape: MeasureShape::Overrun,
        description: "customer faults: handling time beyond the tier's limit (SLA-11 clock)",
    },
    MeasureDef {
        key: "leased_line_repeat_faults_exceeded",
        shape: MeasureShape::Flag,
        description: "a leased line's repeat-fault count exceeded the SLA standard in the year",
    },
    MeasureDef {
        key: "annual_interruption_exceeded",
        shape: MeasureShape::Flag,
        description: "a service's annual interruption duration exceeded the SLA standard",
    },
];

/// The base measure called `key`.
pub fn measure(key: &str) -> Option<&'static MeasureDef> {
    MEASURES.iter().find(|m| m.key == key)
}
