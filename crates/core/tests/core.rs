//! Domain rules against the real default policy pack. One integration-test binary for the crate (each
//! binary links the crate again), with the suites as modules.

#[path = "core/change_rules.rs"]
mod change_rules;
#[path = "core/incident_rules.rs"]
mod incident_rules;
#[path = "core/kpi_rules.rs"]
mod kpi_rules;
#[path = "core/policy_pack.rs"]
mod policy_pack;
#[path = "core/problem_rules.rs"]
mod problem_rules;
#[path = "core/reconciliation.rs"]
mod reconciliation;
#[path = "core/sla_rules.rs"]
mod sla_rules;
