//! Tianshu domain core: the policy pack, the separate severity scales, fault classification and clocks.
//!
//! Pure: no network, no SQL. The only IO is [`policy::PolicyPack::load_dir`], which reads the pack's files and
//! hands them to the pure [`policy::PolicyPack::load_files`].

pub mod alert;
pub mod change;
pub mod classify;
pub mod clock;
pub mod dataop;
pub mod duty;
pub mod incident;
pub mod kpi;
pub mod notify;
pub mod point;
pub mod policy;
pub mod probe;
pub mod problem;
pub mod severity;
pub mod sla;

pub use classify::{
    classify_fault, BusinessOutage, Classification, ClassifyError, FaultFacts, Reason,
};
pub use clock::{Clock, ManualClock, SystemClock};
pub use policy::{Permission, PolicyError, PolicyErrors, PolicyPack, PERMISSIONS};
pub use severity::{ComplaintLevel, FaultLevel, ProblemLevel};
