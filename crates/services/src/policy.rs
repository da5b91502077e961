//! The active policy pack: loading, activation, reload, and keeping every instance on one version.
//!
//! The pack text of the active version lives in the database (`policy_versions`). An instance that
//! starts with a pack whose hash differs from the active one activates it; every instance polls
//! the active id (and the holiday versions) and reloads from the database when either changes,
//! so all instances converge on the same version without a restart.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use rust_embed::RustEmbed;
use serde_json::json;
use tianshu_core::PolicyPack;
use tianshu_store::audit::{append, NewAuditEntry};
use tianshu_store::identity::{upsert_role, Role as StoredRole};
use tianshu_store::policy::{activate_policy, holiday_years_in_tx, put_holiday_year};
use tianshu_store::Store;
use tianshu_workcal::HolidayYear;

use crate::calendar::CalendarSet;
use crate::error::{ServiceError, ServiceResult};

#[derive(RustEmbed)]
#[folder = "../../policies/default/"]
#[include = "*.toml"]
struct DefaultPack;

/// Where the pack to start with comes from.
#[derive(Debug, Clone)]
pub enum PackSource {
    /// The default pack compiled into the binary.
    Embedded,
    /// A directory of TOML files.
    Dir(PathBuf),
}

impl PackSource {
    /// Loads and validates the pack.
    pub fn load(&self) -> Result<PolicyPack, tianshu_core::PolicyErrors> {
        match self {
            PackSource::Embedded => PolicyPack::load_files(&embedded_files()),
            PackSource::Dir(d) => PolicyPack::load_dir(d),
        }
    }
}

/// The default pack's files as `(relative name, content)`.
pub fn embedded_files() -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = DefaultPack::iter()
        .filter_map(|name| {
            DefaultPack::get(&name).map(|f| {
                (
                    name.to_string(),
                    String::from_utf8_lossy(&f.data).into_owned(),
                )
            })
        })
        .collect();
    v.sort();
    v
}

/// What the platform currently enforces.
#[derive(Debug)]
pub struct ActivePolicy {
    /// Row id of the active version in `policy_versions`.
    pub id: i64,
    pub pack: Arc<PolicyPack>,
    pub calendars: CalendarSet,
    /// Sum of holiday-year versions when loaded; a change means an operator edited holidays.
    pub holiday_stamp: i64,
}

/// Shared, swappable handle on the active policy.
#[derive(Debug)]
pub struct PolicyHandle {
    current: RwLock<Arc<ActivePolicy>>,
}

impl PolicyHandle {
    /// The active policy (cheap clone of an `Arc`).
    pub fn current(&self) -> Arc<ActivePolicy> {
        match self.current.read() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    fn set(&self, p: ActivePolicy) {
        let p = Arc::new(p);
        match self.current.write() {
            Ok(mut g) => *g = p,
            Err(poisoned) => *poisoned.into_inner() = p,
        }
    }

    /// Loads `source`, activates it if it differs from the stored active version, and returns the handle.
    pub async fn bootstrap(
        store: &Store,
        source: &PackSource,
        now: i64,
        actor: &str,
    ) -> ServiceResult<PolicyHandle> {
        let pack = source.load().map_err(ServiceError::Policy)?;
        let active = store.active_policy().await?;
        let id = match active {
            Some(v) if v.source_hash == pack.source_hash => v.id,
            _ => activate(store, &pack, now, actor).await?,
        };
        let loaded = load_active(store, id, Arc::new(pack)).await?;
        Ok(PolicyHandle {
            current: RwLock::new(Arc::new(loaded)),
        })
    }

    /// Validates `source` and makes it the active version everywhere; returns the new active policy.
    pub async fn reload(
        &self,
        store: &Store,
        source: &PackSource,
        now: i64,
        actor: &str,
    ) -> ServiceResult<Arc<ActivePolicy>> {
        let pack = source.load().map_err(ServiceError::Policy)?;
        let id = if pack.source_hash == self.current().pack.source_hash {
            self.current().id
        } else {
            activate(store, &pack, now, actor).await?
        };
        let loaded = load_active(store, id, Arc::new(pack)).await?;
        self.set(loaded);
        Ok(self.current())
    }

    /// Follows another instance's reload or a holiday edit; returns true when something changed.
    pub async fn sync(&self, store: &Store) -> ServiceResult<bool> {
        let cur = self.current();
        let Some(id) = store.active_policy_id().await? else {
            return Ok(false);
        };
        let stamp = holiday_stamp(store).await?;
        if id == cur.id && stamp == cur.holiday_stamp {
            return Ok(false);
        }
        let pack = if id == cur.id {
            cur.pack.clone()
        } else {
            let v = store
                .active_policy()
                .await?
                .ok_or_else(|| ServiceError::Internal("active policy vanished".into()))?;
            let files: Vec<(String, String)> = serde_json::from_str(&v.files)
                .map_err(|e| ServiceError::Internal(format!("stored policy files: {e}")))?;
            Arc::new(PolicyPack::load_files(&files).map_err(ServiceError::Policy)?)
        };
        let loaded = load_active(store, id, pack).await?;
        tracing::info!(policy_id = loaded.id, version = %loaded.pack.pack.version, "policy reloaded from database");
        self.set(loaded);
        Ok(true)
    }

    /// Replaces one year of holidays (validated), bumping its version, with an audit entry.
    pub async fn put_holidays(
        &self,
        store: &Store,
        year: HolidayYear,
        now: i64,
        actor: &str,
        request_id: Option<String>,
    ) -> ServiceResult<i64> {
        let issues = crate::calendar::check_year(&year);
        if let Some(i) = issues.first() {
            return Err(ServiceError::invalid(i.path.clone(), i.message.clone()));
        }
        let before = self.current().calendars.year(year.year).cloned();
        let data =
            serde_json::to_string(&year).map_err(|e| ServiceError::Internal(e.to_string()))?;
        let actor = actor.to_string();
        let y = year.year;
        let after =
            serde_json::to_value(&year).map_err(|e| ServiceError::Internal(e.to_string()))?;
        let version = store
            .write(move |c| {
                Box::pin(async move {
                    let v = put_holiday_year(c, y, &data, now, &actor).await?;
                    append(
                        c,
                        NewAuditEntry {
                            actor,
                            action: "calendar.holidays_put".into(),
                            object_type: "holiday_year".into(),
                            object_id: y.to_string(),
                            before: before.map(|b| serde_json::to_value(b).unwrap_or_default()),
                            after: Some(json!({"version": v, "data": after})),
                            request_id,
                            at: now,
                        },
                    )
                    .await?;
                    Ok(v)
                })
            })
            .await?;
        self.sync(store).await?;
        Ok(version)
    }
}

async fn holiday_stamp(store: &Store) -> ServiceResult<i64> {
    Ok(store
        .holiday_years()
        .await?
        .iter()
        .map(|(_, _, v)| *v)
        .sum())
}

async fn load_active(store: &Store, id: i64, pack: Arc<PolicyPack>) -> ServiceResult<ActivePolicy> {
    let stored = store.holiday_years().await?;
    let stamp = stored.iter().map(|(_, _, v)| *v).sum();
    let mut years: Vec<HolidayYear> = Vec::new();
    for (year, data, _) in &stored {
        match serde_json::from_str::<HolidayYear>(data) {
            Ok(y) => years.push(y),
            Err(e) => {
                tracing::error!(year, error = %e, "stored holiday year is unreadable; using the pack's")
            }
        }
    }
    for y in &pack.holidays {
        if !years.iter().any(|s| s.year == y.year) {
            years.push(y.clone());
        }
    }
    years.sort_by_key(|y| y.year);
    let calendars = CalendarSet::build(&pack, years)?;
    Ok(ActivePolicy {
        id,
        pack,
        calendars,
        holiday_stamp: stamp,
    })
}

/// Stores the pack as the active version, seeds roles and missing holiday years, audits it.
async fn activate(store: &Store, pack: &PolicyPack, now: i64, actor: &str) -> ServiceResult<i64> {
    let files: Vec<(String, String)> = pack
        .files
        .iter()
        .map(|f| (f.name.clone(), f.content.clone()))
        .collect();
    let files_json =
        serde_json::to_string(&files).map_err(|e| ServiceError::Internal(e.to_string()))?;
    let roles: Vec<StoredRole> = pack
        .roles
        .iter()
        .map(|r| StoredRole {
            key: r.key.clone(),
            name_zh: r.name_zh.clone(),
            name_en: r.name_en.clone(),
            scope: serde_json::to_value(r.scope)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_else(|| "province".into()),
            permissions: r
                .permissions
                .iter()
                .map(|p| p.as_str().to_string())
                .collect(),
        })
        .collect();
    let holidays: Vec<(i32, String)> = pack
        .holidays
        .iter()
        .filter_map(|y| serde_json::to_string(y).ok().map(|s| (y.year, s)))
        .collect();
    let version = pack.pack.version.clone();
    let hash = pack.source_hash.clone();
    let actor = actor.to_string();
    let id = store
        .write(move |c| {
            Box::pin(async move {
                let id = activate_policy(c, &version, &hash, &files_json, now, &actor).await?;
                for r in &roles {
                    upsert_role(c, r).await?;
                }
                let present: Vec<i64> = holiday_years_in_tx(c)
                    .await?
                    .into_iter()
                    .map(|(y, _, _)| y)
                    .collect();
                for (year, data) in &holidays {
                    if !present.contains(&i64::from(*year)) {
                        put_holiday_year(c, *year, data, now, &actor).await?;
                    }
                }
                append(
                    c,
                    NewAuditEntry {
                        actor: actor.clone(),
                        action: "policy.activate".into(),
                        object_type: "policy".into(),
                        object_id: id.to_string(),
                        before: None,
                        after: Some(
                            json!({"version": version, "source_hash": hash, "roles": roles.len()}),
                        ),
                        request_id: None,
                        at: now,
                    },
                )
                .await?;
                Ok(id)
            })
        })
        .await?;
    Ok(id)
}

/// Formats policy errors one per line as `file:line:field: message`.
pub fn format_errors(errs: &tianshu_core::PolicyErrors) -> String {
    errs.iter()
        .map(|e| e.to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

/// Whether a path looks like a pack directory.
pub fn is_pack_dir(p: &Path) -> bool {
    p.join(tianshu_core::policy::PACK_FILE).is_file()
}
