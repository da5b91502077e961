//! Group-customer complaints as the records of KPI-08 (投诉处理及时率). The seed gives the scoring formula
//! (KPI-08 = KPI-04's) but no complaint-handling time limit, so the deadline is not computed here: customer service
//! sets it with each complaint and this module only checks that the times make sense and says whether a closed
//! complaint met it. The CS level is an input attribute too (SEV-08), kept for the record.

use crate::severity::ComplaintLevel;

/// The highest customer-service complaint level SEV-08 names (CS1 … CS4).
pub const CS_LEVEL_MAX: u8 = 4;

/// Why complaint times or attributes are refused, naming the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ComplaintError {
    /// The deadline is not after receipt.
    #[error("KPI-08: the handling deadline must be after the complaint was received")]
    DueNotAfterReceived,
    /// Received in the future (the complaint has not happened yet).
    #[error("KPI-08: a complaint cannot be received in the future")]
    ReceivedInFuture,
    /// Closed before it was received.
    #[error("KPI-08: a complaint cannot be closed before it was received")]
    ClosedBeforeReceived,
    /// Closed in the future.
    #[error("KPI-08: a complaint cannot be closed in the future")]
    ClosedInFuture,
    /// Not CS1 … CS4.
    #[error("SEV-08: '{0}' is not a complaint level CS1, CS2, CS3 or CS4")]
    BadLevel(String),
}

impl ComplaintError {
    /// The input field the refusal names.
    pub fn field(&self) -> &'static str {
        match self {
            ComplaintError::DueNotAfterReceived => "due_at",
            ComplaintError::ReceivedInFuture => "received_at",
            ComplaintError::ClosedBeforeReceived | ComplaintError::ClosedInFuture => "closed_at",
            ComplaintError::BadLevel(_) => "cs_level",
        }
    }
}

/// Checks a new complaint's times (Unix microseconds): received not after `now`, due strictly after received.
/// The deadline may already have passed when the complaint is recorded late; that is for KPI-08 to count.
pub fn check_new(received_at: i64, due_at: i64, now: i64) -> Result<(), ComplaintError> {
    if received_at > now {
        return Err(ComplaintError::ReceivedInFuture);
    }
    if due_at <= received_at {
        return Err(ComplaintError::DueNotAfterReceived);
    }
    Ok(())
}

/// Checks a closing time: not before receipt, not after `now`.
pub fn check_close(received_at: i64, closed_at: i64, now: i64) -> Result<(), ComplaintError> {
    if closed_at < received_at {
        return Err(ComplaintError::ClosedBeforeReceived);
    }
    if closed_at > now {
        return Err(ComplaintError::ClosedInFuture);
    }
    Ok(())
}

/// KPI-08: a closed complaint is handled in time when it was closed at or before its deadline.
pub fn on_time(closed_at: i64, due_at: i64) -> bool {
    closed_at <= due_at
}

/// SEV-08: `CS1` … `CS4` (case-insensitive, surrounding blanks ignored).
pub fn parse_level(s: &str) -> Result<ComplaintLevel, ComplaintError> {
    s.trim()
        .to_ascii_uppercase()
        .parse::<ComplaintLevel>()
        .ok()
        .filter(|l| l.get() <= CS_LEVEL_MAX)
        .ok_or_else(|| ComplaintError::BadLevel(s.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kpi_08_deadline_after_receipt_and_closing_at_the_deadline_is_on_time() {
        assert_eq!(
            check_new(10, 10, 20),
            Err(ComplaintError::DueNotAfterReceived)
        );
        assert_eq!(check_new(10, 9, 20).unwrap_err().field(), "due_at");
        assert_eq!(check_new(30, 40, 20), Err(ComplaintError::ReceivedInFuture));
        assert!(check_new(10, 11, 20).is_ok());
        assert!(on_time(11, 11));
        assert!(!on_time(12, 11));
        assert_eq!(check_close(10, 9, 20).unwrap_err().field(), "closed_at");
        assert_eq!(check_close(10, 21, 20), Err(ComplaintError::ClosedInFuture));
        assert!(check_close(10, 10, 20).is_ok());
    }

    #[test]
    fn sev_08_levels_cs1_to_cs4() {
        assert_eq!(parse_level(" cs3 ").unwrap().get(), 3);
        assert_eq!(parse_level("CS4").unwrap().get(), 4);
        for bad in ["CS0", "CS5", "3", ""] {
            assert_eq!(parse_level(bad).unwrap_err().field(), "cs_level", "{bad}");
        }
    }
}
