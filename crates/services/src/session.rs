//! Logging in, sessions, API tokens and request rate limits.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use serde_json::json;
use tianshu_core::Permission;
use tianshu_store::audit::{append, NewAuditEntry};
use tianshu_store::identity::User;
use tianshu_store::security::{
    clear_login_failures, insert_session, insert_token, record_login_failure, revoke_token,
    ApiToken, Session,
};

use crate::authz::{derive_scope, AuthVia, Principal};
use crate::error::{ServiceError, ServiceResult};
use crate::secrets;
use crate::Platform;

/// Prefix of every API token secret, so leaked tokens are easy to recognise in logs and scanners.
pub const TOKEN_PREFIX: &str = "tsk_";

/// A fresh console session; `secret` goes into the cookie and is never stored.
#[derive(Debug, Clone)]
pub struct NewSession {
    pub secret: String,
    pub csrf: String,
    pub expires_at: i64,
    pub user: User,
}

/// Checks credentials with throttling; on success opens a session.
pub async fn login(
    p: &Platform,
    username: &str,
    password: &str,
    request_id: Option<String>,
) -> ServiceResult<NewSession> {
    let pol = p.policy.current();
    let sec = &pol.pack.security;
    let now = p.now_us();
    if let Some(t) = p.store.throttle(username).await? {
        if let Some(until) = t.locked_until {
            if until > now {
                // Attempts during a lockout are not checked but are recorded: they are the signal.
                let uname = username.chars().take(64).collect::<String>();
                p.store
                    .audit(NewAuditEntry {
                        actor: format!("anonymous:{uname}"),
                        action: "session.login_locked".into(),
                        object_type: "user".into(),
                        object_id: uname,
                        before: None,
                        after: Some(json!({"locked_until": until})),
                        request_id,
                        at: now,
                    })
                    .await?;
                return Err(ServiceError::Locked { until });
            }
        }
    }
    let user = p.store.user_by_username(username).await?;
    let hash = match &user {
        Some(u) => p.store.password_hash(u.id).await?,
        None => None,
    };
    // Always run one verification so a missing user costs the same time as a wrong password.
    let verified = secrets::verify_password(
        password,
        hash.as_deref().unwrap_or_else(|| secrets::dummy_hash()),
    );
    let user = match user {
        Some(u) if verified && hash.is_some() && u.active => u,
        _ => {
            let uname = username.chars().take(64).collect::<String>();
            let window = sec.login.window.seconds() * 1_000_000;
            let lockout = sec.login.lockout.seconds() * 1_000_000;
            let max = i64::from(sec.login.max_failures);
            let t = p
                .store
                .write(move |c| {
                    Box::pin(async move {
                        let t = record_login_failure(c, &uname, now, window, max, lockout).await?;
                        append(
                            c,
                            NewAuditEntry {
                                actor: format!("anonymous:{uname}"),
                                action: "session.login_failed".into(),
                                object_type: "user".into(),
                                object_id: uname.clone(),
                                before: None,
                                after: Some(
                                    json!({"failures": t.failures, "locked_until": t.locked_until}),
                                ),
                                request_id,
                                at: now,
                            },
                        )
                        .await?;
                        Ok(t)
                    })
                })
                .await?;
            if let Some(until) = t.locked_until {
                if until > now {
                    return Err(ServiceError::Locked { until });
                }
            }
            return Err(ServiceError::BadCredentials);
        }
    };
    let secret = secrets::random_token(32);
    let csrf = secrets::random_token(24);
    let idle = sec.session.idle_timeout.seconds() * 1_000_000;
    let absolute = sec.session.absolute_timeout.seconds() * 1_000_000;
    let expires_at = now + idle.min(absolute);
    let session = Session {
        id_hash: secrets::digest(&secret),
        user_id: user.id,
        csrf_token: csrf.clone(),
        created_at: now,
        last_seen_at: now,
        expires_at,
    };
    let uname = user.username.clone();
    let uid = user.id;
    p.store
        .write(move |c| {
            Box::pin(async move {
                clear_login_failures(c, &uname).await?;
                insert_session(c, &session).await?;
                append(
                    c,
                    NewAuditEntry {
                        actor: format!("user:{uname}"),
                        action: "session.login".into(),
                        object_type: "user".into(),
                        object_id: uid.to_string(),
                        before: None,
                        after: None,
                        request_id,
                        at: now,
                    },
                )
                .await?;
                Ok(())
            })
        })
        .await?;
    Ok(NewSession {
        secret,
        csrf,
        expires_at,
        user,
    })
}

/// The principal of a user acting through `via`, with all of their roles' permissions.
pub async fn principal_of_user(
    p: &Platform,
    user_id: i64,
    via: AuthVia,
) -> ServiceResult<Principal> {
    principal_for(p, user_id, via, None).await
}

async fn principal_for(
    p: &Platform,
    user_id: i64,
    via: AuthVia,
    token_scopes: Option<Vec<String>>,
) -> ServiceResult<Principal> {
    let user = p
        .store
        .user(user_id)
        .await?
        .ok_or(ServiceError::Unauthenticated)?;
    if !user.active {
        return Err(ServiceError::Unauthenticated);
    }
    let org = p
        .store
        .org(user.org_id)
        .await?
        .ok_or(ServiceError::Unauthenticated)?;
    let (perms, scopes) = p.store.user_grants(user.id).await?;
    let mut permissions: BTreeSet<Permission> =
        perms.iter().filter_map(|s| s.parse().ok()).collect();
    if let Some(ts) = token_scopes {
        let allowed: BTreeSet<Permission> = ts.iter().filter_map(|s| s.parse().ok()).collect();
        permissions = permissions.intersection(&allowed).copied().collect();
    }
    let roles = p.store.user_roles(user.id).await?;
    Ok(Principal {
        user_id: user.id,
        username: user.username,
        org_id: org.id,
        locale: user.locale,
        permissions,
        roles,
        scope: derive_scope(
            &scopes,
            user.province_scope,
            &org.kind,
            org.id,
            org.region_id,
        ),
        via,
    })
}

/// The principal of a session cookie; slides the idle deadline (at most once a minute).
pub async fn authenticate_session(p: &Platform, secret: &str) -> ServiceResult<Principal> {
    let now = p.now_us();
    let id_hash = secrets::digest(secret);
    let s = p
        .store
        .session(&id_hash, now)
        .await?
        .ok_or(ServiceError::Unauthenticated)?;
    let pol = p.policy.current();
    let idle = pol.pack.security.session.idle_timeout.seconds() * 1_000_000;
    let absolute = pol.pack.security.session.absolute_timeout.seconds() * 1_000_000;
    if now - s.last_seen_at > 60_000_000 {
        let exp = (now + idle).min(s.created_at + absolute);
        p.store.touch_session(&id_hash, now, exp).await?;
    }
    principal_for(
        p,
        s.user_id,
        AuthVia::Session {
            id_hash,
            csrf: s.csrf_token,
        },
        None,
    )
    .await
}

/// Ends a session.
pub async fn logout(p: &Platform, principal: &Principal) -> ServiceResult<()> {
    if let AuthVia::Session { id_hash, .. } = &principal.via {
        p.store.delete_session(id_hash).await?;
    }
    Ok(())
}

/// The principal of an API token secret.
pub async fn authenticate_token(p: &Platform, secret: &str) -> ServiceResult<Principal> {
    if !secret.starts_with(TOKEN_PREFIX) || secret.len() > 128 {
        return Err(ServiceError::Unauthenticated);
    }
    let now = p.now_us();
    let hash = secrets::digest(secret);
    let policy_id = p.policy.current().id;
    if let Some(cached) = p.auth.get(&hash, now, policy_id) {
        return Ok(cached);
    }
    let generation = p.auth.generation();
    let t = p
        .store
        .token_by_hash(&hash)
        .await?
        .ok_or(ServiceError::Unauthenticated)?;
    if t.revoked_at.is_some() || t.expires_at.is_some_and(|e| e <= now) {
        return Err(ServiceError::Unauthenticated);
    }
    if t.last_used_at.is_none_or(|u| now - u > 60_000_000) {
        p.store.token_used(t.id, now).await?;
    }
    let scopes: Vec<String> = serde_json::from_str(&t.scopes).unwrap_or_default();
    let principal = principal_for(p, t.user_id, AuthVia::Token { id: t.id }, Some(scopes)).await?;
    p.auth.put(
        hash,
        principal.clone(),
        t.expires_at,
        now,
        generation,
        policy_id,
    );
    Ok(principal)
}

/// Input of [`create_token`].
#[derive(Debug, Clone, Deserialize)]
pub struct CreateToken {
    pub name: String,
    /// Username the token acts as (default: the caller).
    pub username: Option<String>,
    /// Permissions the token may use; empty means all of the user's.
    pub scopes: Vec<String>,
    /// Lifetime in days; default from the policy pack.
    pub lifetime_days: Option<u32>,
}

/// A token as listed (no secret).
#[derive(Debug, Clone, Serialize)]
pub struct TokenView {
    #[serde(flatten)]
    pub token: ApiToken,
    pub scope_list: Vec<String>,
}

/// Creates a token; the secret is returned once and only its hash is stored.
pub async fn create_token(
    p: &Platform,
    actor: &Principal,
    input: CreateToken,
    request_id: Option<String>,
) -> ServiceResult<(String, ApiToken)> {
    actor.require(Permission::TokenManage)?;
    let name = input.name.trim().to_string();
    if name.is_empty() || name.chars().count() > 64 {
        return Err(ServiceError::invalid("name", "must have 1–64 characters"));
    }
    let user = match &input.username {
        Some(u) => p
            .store
            .user_by_username(u)
            .await?
            .ok_or_else(|| ServiceError::invalid("username", format!("no user '{u}'")))?,
        None => p.store.user(actor.user_id).await?.ok_or_else(|| {
            ServiceError::invalid("username", "the caller has no user record; name one")
        })?,
    };
    if user.id != actor.user_id {
        actor.require(Permission::UserManage)?;
    }
    let mut scopes = Vec::new();
    for (i, s) in input.scopes.iter().enumerate() {
        let perm: Permission = s.parse().map_err(|_| {
            ServiceError::invalid(format!("scopes[{i}]"), format!("unknown permission '{s}'"))
        })?;
        // A token can never carry more than its creator holds.
        actor.require(perm)?;
        scopes.push(perm.as_str().to_string());
    }
    if scopes.is_empty() {
        scopes = actor
            .permissions
            .iter()
            .map(|p| p.as_str().to_string())
            .collect();
    }
    let pol = p.policy.current();
    let days = input
        .lifetime_days
        .unwrap_or(pol.pack.security.api_token.default_lifetime_days);
    if days == 0 || days > 3650 {
        return Err(ServiceError::invalid(
            "lifetime_days",
            "must be between 1 and 3650",
        ));
    }
    let now = p.now_us();
    let secret = format!("{TOKEN_PREFIX}{}", secrets::random_token(32));
    let token = ApiToken {
        id: 0,
        name,
        prefix: secret.chars().take(10).collect(),
        token_hash: secrets::digest(&secret),
        user_id: user.id,
        scopes: serde_json::to_string(&scopes).unwrap_or_else(|_| "[]".into()),
        created_at: now,
        expires_at: Some(now + i64::from(days) * 86_400_000_000),
        revoked_at: None,
        last_used_at: None,
    };
    let actor_s = actor.actor();
    let stored = p
        .store
        .write(move |c| {
            Box::pin(async move {
                let t = insert_token(c, &token).await?;
                append(
                    c,
                    NewAuditEntry {
                        actor: actor_s,
                        action: "token.create".into(),
                        object_type: "api_token".into(),
                        object_id: t.id.to_string(),
                        before: None,
                        after: Some(json!(t)),
                        request_id,
                        at: now,
                    },
                )
                .await?;
                Ok(t)
            })
        })
        .await?;
    Ok((secret, stored))
}

/// Revokes a token (idempotent).
pub async fn revoke(
    p: &Platform,
    actor: &Principal,
    id: i64,
    request_id: Option<String>,
) -> ServiceResult<()> {
    actor.require(Permission::TokenManage)?;
    let now = p.now_us();
    let actor_s = actor.actor();
    let own_only = !actor.can(Permission::UserManage);
    let uid = actor.user_id;
    p.store
        .write(move |c| {
            Box::pin(async move {
                let t = revoke_token(c, id, now).await?;
                if own_only && t.user_id != uid {
                    return Err(tianshu_store::StoreError::NotFound(format!("token {id}")));
                }
                append(
                    c,
                    NewAuditEntry {
                        actor: actor_s,
                        action: "token.revoke".into(),
                        object_type: "api_token".into(),
                        object_id: id.to_string(),
                        before: Some(json!(t)),
                        after: Some(json!({"revoked_at": t.revoked_at.unwrap_or(now)})),
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

/// Tokens the actor may see.
pub async fn list_tokens(p: &Platform, actor: &Principal) -> ServiceResult<Vec<TokenView>> {
    actor.require(Permission::TokenManage)?;
    let filter = if actor.can(Permission::UserManage) {
        None
    } else {
        Some(actor.user_id)
    };
    Ok(p.store
        .tokens(filter)
        .await?
        .into_iter()
        .map(|t| {
            let scope_list = serde_json::from_str(&t.scopes).unwrap_or_default();
            TokenView {
                token: t,
                scope_list,
            }
        })
        .collect())
}

/// Counts a request of `key` (token or client address) against the pack's per-minute limit.
pub async fn rate_check(p: &Platform, key: &str) -> ServiceResult<()> {
    let limit = i64::from(
        p.policy
            .current()
            .pack
            .security
            .rate_limit
            .requests_per_minute,
    );
    let now = p.now_us();
    let n = p.limits.hit(key, now, 60_000_000);
    if n > limit {
        let retry = 60 - (now / 1_000_000).rem_euclid(60);
        return Err(ServiceError::RateLimited {
            retry_after_secs: retry,
        });
    }
    Ok(())
}
