//! Users and organisations: create, change, list — each change audited in its own transaction.

use serde::{Deserialize, Serialize};
use serde_json::json;
use tianshu_core::Permission;
use tianshu_store::audit::{append, NewAuditEntry};
use tianshu_store::identity::{
    insert_org, insert_user, set_password, set_user_roles, update_user, user_in_tx, NewOrg,
    NewUser, Org, User, UserChanges,
};
use tianshu_store::security::delete_user_sessions;

use crate::authz::Principal;
use crate::error::{ServiceError, ServiceResult};
use crate::secrets;
use crate::Platform;

/// Locales the console and messages support.
pub const LOCALES: &[&str] = &["zh-CN", "en"];

/// Input of [`create_user`].
#[derive(Debug, Clone, Deserialize)]
pub struct CreateUser {
    pub username: String,
    pub display_name: String,
    pub org_key: String,
    pub roles: Vec<String>,
    pub password: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub locale: Option<String>,
    pub province_scope: bool,
}

/// A user with its role keys, as returned to callers (never the password hash).
#[derive(Debug, Clone, Serialize)]
pub struct UserView {
    #[serde(flatten)]
    pub user: User,
    pub roles: Vec<String>,
}

/// Changeable profile fields; `version` must match the stored one (optimistic concurrency).
#[derive(Debug, Clone, Deserialize)]
pub struct UpdateUser {
    pub version: i64,
    pub display_name: Option<String>,
    pub locale: Option<String>,
    pub active: Option<bool>,
    pub province_scope: Option<bool>,
    pub roles: Option<Vec<String>>,
}

fn check_username(u: &str) -> ServiceResult<()> {
    let ok = (2..=64).contains(&u.len())
        && u.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c))
        && u.chars().next().is_some_and(|c| c.is_ascii_alphanumeric());
    if ok {
        Ok(())
    } else {
        Err(ServiceError::invalid_zh(
            "username",
            "2–64 characters: lower-case letters, digits, '.', '_' or '-', starting with a letter or digit",
            "用户名须为 2–64 个字符：小写字母、数字、“.”“_”“-”，以字母或数字开头",
        ))
    }
}

fn check_text(field: &str, v: &str, max: usize) -> ServiceResult<()> {
    crate::validate::text(field, v, max, false)
}

fn check_locale(l: &str) -> ServiceResult<()> {
    if LOCALES.contains(&l) {
        Ok(())
    } else {
        Err(ServiceError::invalid(
            "locale",
            format!("must be one of {}", LOCALES.join(", ")),
        ))
    }
}

fn check_roles(p: &Platform, roles: &[String]) -> ServiceResult<()> {
    let pol = p.policy.current();
    for (i, r) in roles.iter().enumerate() {
        if pol.pack.role(r).is_none() {
            return Err(ServiceError::invalid_zh(
                format!("roles[{i}]"),
                format!("unknown role '{r}'"),
                format!("角色“{r}”不存在"),
            ));
        }
    }
    Ok(())
}

fn user_json(u: &User, roles: &[String]) -> serde_json::Value {
    json!({"user": u, "roles": roles})
}

/// Creates a user with roles (permission change audited as part of the same entry).
pub async fn create_user(
    p: &Platform,
    actor: &Principal,
    input: CreateUser,
    request_id: Option<String>,
) -> ServiceResult<UserView> {
    actor.require(Permission::UserManage)?;
    check_username(&input.username)?;
    check_text("display_name", &input.display_name, 64)?;
    let locale = input.locale.clone().unwrap_or_else(|| "zh-CN".into());
    check_locale(&locale)?;
    check_roles(p, &input.roles)?;
    if let Some(e) = &input.email {
        if !e.contains('@') || e.len() > 254 {
            return Err(ServiceError::invalid_zh(
                "email",
                "is not an e-mail address",
                "不是有效的电子邮件地址",
            ));
        }
    }
    if input.roles.iter().any(|r| r == "administrator") && !actor.can(Permission::RoleManage) {
        return Err(ServiceError::Forbidden(Permission::RoleManage));
    }
    let org = p.store.org_by_key(&input.org_key).await?.ok_or_else(|| {
        ServiceError::unknown_ref(
            "org_key",
            format!("no organisation '{}'", input.org_key),
            format!("单位“{}”不存在", input.org_key),
        )
    })?;
    actor.require_visible(org.region_id, org.id)?;
    let password_hash = match &input.password {
        Some(pw) => Some(secrets::hash_password(pw)?),
        None => None,
    };
    let now = p.now_us();
    let new = NewUser {
        username: input.username.clone(),
        display_name: input.display_name.trim().to_string(),
        org_id: org.id,
        email: input.email.clone(),
        phone: input.phone.clone(),
        locale,
        province_scope: input.province_scope,
        password_hash,
    };
    let roles = input.roles.clone();
    let actor_s = actor.actor();
    let user = p
        .store
        .write(move |c| {
            Box::pin(async move {
                let u = insert_user(c, new, now).await?;
                set_user_roles(c, u.id, &roles).await?;
                append(
                    c,
                    NewAuditEntry {
                        actor: actor_s,
                        action: "user.create".into(),
                        object_type: "user".into(),
                        object_id: u.id.to_string(),
                        before: None,
                        after: Some(user_json(&u, &roles)),
                        request_id,
                        at: now,
                    },
                )
                .await?;
                Ok(u)
            })
        })
        .await?;
    Ok(UserView {
        user,
        roles: input.roles,
    })
}

/// Changes a user's profile and/or roles if `version` still matches.
pub async fn update(
    p: &Platform,
    actor: &Principal,
    id: i64,
    input: UpdateUser,
    request_id: Option<String>,
) -> ServiceResult<UserView> {
    actor.require(Permission::UserManage)?;
    let cur = visible_user(p, actor, id).await?;
    if let Some(d) = &input.display_name {
        check_text("display_name", d, 64)?;
    }
    if let Some(l) = &input.locale {
        check_locale(l)?;
    }
    if let Some(r) = &input.roles {
        check_roles(p, r)?;
        if r.iter().any(|r| r == "administrator") && !actor.can(Permission::RoleManage) {
            return Err(ServiceError::Forbidden(Permission::RoleManage));
        }
    }
    let old_roles = p.store.user_roles(id).await?;
    let now = p.now_us();
    let actor_s = actor.actor();
    let display = input
        .display_name
        .clone()
        .map(|d| d.trim().to_string())
        .unwrap_or(cur.display_name.clone());
    let locale = input.locale.clone().unwrap_or(cur.locale.clone());
    let active = input.active.unwrap_or(cur.active);
    let province = input.province_scope.unwrap_or(cur.province_scope);
    let roles = input.roles.clone();
    let version = input.version;
    let (user, roles) = p
        .store
        .write(move |c| {
            Box::pin(async move {
                let before = user_in_tx(c, id).await?;
                let ch = UserChanges {
                    display_name: display,
                    locale,
                    active,
                    province_scope: province,
                };
                let u = update_user(c, id, version, &ch, now).await?;
                let new_roles = match &roles {
                    Some(r) => {
                        set_user_roles(c, id, r).await?;
                        r.clone()
                    }
                    None => old_roles.clone(),
                };
                if !u.active {
                    delete_user_sessions(c, id).await?;
                }
                append(
                    c,
                    NewAuditEntry {
                        actor: actor_s,
                        action: if roles.is_some() && new_roles != old_roles {
                            "user.update_roles".into()
                        } else {
                            "user.update".into()
                        },
                        object_type: "user".into(),
                        object_id: id.to_string(),
                        before: before.map(|b| user_json(&b, &old_roles)),
                        after: Some(user_json(&u, &new_roles)),
                        request_id,
                        at: now,
                    },
                )
                .await?;
                Ok((u, new_roles))
            })
        })
        .await?;
    p.auth.invalidate();
    Ok(UserView { user, roles })
}

/// Sets a password (by an administrator, or by the user for themself); ends the user's sessions.
pub async fn change_password(
    p: &Platform,
    actor: &Principal,
    id: i64,
    password: &str,
    request_id: Option<String>,
) -> ServiceResult<()> {
    if actor.user_id != id {
        actor.require(Permission::UserManage)?;
        visible_user(p, actor, id).await?;
    }
    let hash = secrets::hash_password(password)?;
    let now = p.now_us();
    let actor_s = actor.actor();
    p.store
        .write(move |c| {
            Box::pin(async move {
                set_password(c, id, &hash, now).await?;
                delete_user_sessions(c, id).await?;
                append(
                    c,
                    NewAuditEntry {
                        actor: actor_s,
                        action: "user.password_set".into(),
                        object_type: "user".into(),
                        object_id: id.to_string(),
                        before: None,
                        after: Some(json!({"password": "changed"})),
                        request_id,
                        at: now,
                    },
                )
                .await?;
                Ok(())
            })
        })
        .await?;
    p.auth.invalidate();
    Ok(())
}

/// A user the actor may see.
pub async fn visible_user(p: &Platform, actor: &Principal, id: i64) -> ServiceResult<User> {
    let u = p
        .store
        .user(id)
        .await?
        .ok_or_else(|| ServiceError::NotFound(format!("user {id}")))?;
    if actor.user_id != id {
        let org = p.store.org(u.org_id).await?;
        let region = org.as_ref().and_then(|o| o.region_id);
        actor
            .require_visible(region, u.org_id)
            .map_err(|_| ServiceError::NotFound(format!("user {id}")))?;
    }
    Ok(u)
}

/// One user with roles.
pub async fn get_user(p: &Platform, actor: &Principal, id: i64) -> ServiceResult<UserView> {
    if actor.user_id != id {
        actor.require(Permission::UserRead)?;
    }
    let user = visible_user(p, actor, id).await?;
    let roles = p.store.user_roles(id).await?;
    Ok(UserView { user, roles })
}

/// A page of users the actor may see.
pub async fn list_users(
    p: &Platform,
    actor: &Principal,
    after_id: i64,
    limit: i64,
    q: Option<&str>,
) -> ServiceResult<Vec<UserView>> {
    actor.require(Permission::UserRead)?;
    let users = p
        .store
        .users_page(after_id, limit, actor.region_filter(), q)
        .await?;
    let (Some(first), Some(last)) = (users.first().map(|u| u.id), users.last().map(|u| u.id))
    else {
        return Ok(Vec::new());
    };
    let pairs = p.store.user_roles_in_range(first, last).await?;
    let out = users
        .into_iter()
        .map(|user| {
            let roles = pairs
                .iter()
                .filter(|(id, _)| *id == user.id)
                .map(|(_, r)| r.clone())
                .collect();
            UserView { user, roles }
        })
        .collect();
    Ok(out)
}

/// Input of [`create_org`].
#[derive(Debug, Clone, Deserialize)]
pub struct CreateOrg {
    pub key: String,
    pub name: String,
    pub kind: String,
    pub parent_key: Option<String>,
}

/// Creates an organisation under its parent (branches and teams need one; vendors and the province none).
pub async fn create_org(
    p: &Platform,
    actor: &Principal,
    input: CreateOrg,
    request_id: Option<String>,
) -> ServiceResult<Org> {
    actor.require(Permission::OrgManage)?;
    check_username(&input.key).map_err(|_| {
        ServiceError::invalid(
            "key",
            "2–64 characters: lower-case letters, digits, '.', '_' or '-'",
        )
    })?;
    check_text("name", &input.name, 64)?;
    let parent = match &input.parent_key {
        Some(k) => Some(p.store.org_by_key(k).await?.ok_or_else(|| {
            ServiceError::invalid("parent_key", format!("no organisation '{k}'"))
        })?),
        None => None,
    };
    match (input.kind.as_str(), &parent) {
        ("branch", Some(par)) if par.kind == "province" => {}
        ("team", Some(par)) if par.kind != "vendor" => {}
        ("province" | "vendor", None) => {}
        ("branch" | "team" | "province" | "vendor", _) => {
            return Err(ServiceError::invalid(
                "parent_key",
                "a branch belongs to the province centre, a team to a branch or the centre; province and vendor have no parent",
            ))
        }
        _ => return Err(ServiceError::invalid("kind", "must be one of province, branch, team, vendor")),
    }
    let now = p.now_us();
    let actor_s = actor.actor();
    let new = NewOrg {
        key: input.key,
        name: input.name.trim().to_string(),
        kind: input.kind,
        parent_id: parent.map(|o| o.id),
    };
    Ok(p.store
        .write(move |c| {
            Box::pin(async move {
                let o = insert_org(c, new, now).await?;
                append(
                    c,
                    NewAuditEntry {
                        actor: actor_s,
                        action: "org.create".into(),
                        object_type: "org".into(),
                        object_id: o.id.to_string(),
                        before: None,
                        after: Some(json!(o)),
                        request_id,
                        at: now,
                    },
                )
                .await?;
                Ok(o)
            })
        })
        .await?)
}

/// Hides the middle of a phone number and the local part of an e-mail address.
///
/// Contact details are personal data: lists and ordinary reads show them masked; the full
/// value needs `sensitive.read` and every such read is written to the audit trail.
pub fn mask_contact(mut v: UserView) -> UserView {
    v.user.phone = v.user.phone.map(|p| {
        let chars: Vec<char> = p.chars().collect();
        if chars.len() <= 7 {
            "*".repeat(chars.len())
        } else {
            let head: String = chars[..3].iter().collect();
            let tail: String = chars[chars.len() - 4..].iter().collect();
            format!("{head}****{tail}")
        }
    });
    v.user.email = v.user.email.map(|e| match e.split_once('@') {
        Some((local, domain)) => format!("{}***@{domain}", local.chars().next().unwrap_or('*')),
        None => "***".into(),
    });
    v
}

/// A user with contact details unmasked: needs `sensitive.read` and is audited as a sensitive read.
pub async fn reveal_user(
    p: &Platform,
    actor: &Principal,
    id: i64,
    request_id: Option<String>,
) -> ServiceResult<UserView> {
    actor.require(Permission::SensitiveRead)?;
    let v = get_user(p, actor, id).await?;
    p.store
        .audit(NewAuditEntry {
            actor: actor.actor(),
            action: "sensitive.read".into(),
            object_type: "user".into(),
            object_id: id.to_string(),
            before: None,
            after: Some(json!({"fields": ["email", "phone"]})),
            request_id,
            at: p.now_us(),
        })
        .await?;
    Ok(v)
}

/// Sets the caller's own console language (self-service; audited).
pub async fn set_own_locale(p: &Platform, actor: &Principal, locale: &str) -> ServiceResult<()> {
    check_locale(locale)?;
    let now = p.now_us();
    let id = actor.user_id;
    let locale = locale.to_string();
    let actor_s = actor.actor();
    let before = actor.locale.clone();
    p.store
        .write(move |c| {
            Box::pin(async move {
                tianshu_store::identity::set_locale(c, id, &locale, now).await?;
                append(
                    c,
                    NewAuditEntry {
                        actor: actor_s,
                        action: "user.locale".into(),
                        object_type: "user".into(),
                        object_id: id.to_string(),
                        before: Some(json!({"locale": before})),
                        after: Some(json!({"locale": locale})),
                        request_id: None,
                        at: now,
                    },
                )
                .await?;
                Ok(())
            })
        })
        .await?;
    p.auth.invalidate();
    Ok(())
}
