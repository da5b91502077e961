//! Recipients resolved to people and addresses at send time (NTF-02, NTF-10: de-duplicated per person).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use tianshu_core::policy::NotifyPolicy;
use tianshu_store::notify::Person;
use tianshu_store::Store;

use crate::ServiceResult;

/// Who a message goes to. Stored as the outbox's `recipients` JSON; a superset of what escalation clocks write
/// (`classes`, `roles`, `users`, `addresses`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecipientSpec {
    /// Recipient classes (NTF-02), resolved through the pack's class → list mapping.
    #[serde(default)]
    pub classes: Vec<String>,
    /// Recipient lists by key (NTF-10 base and regional lists).
    #[serde(default)]
    pub lists: Vec<String>,
    /// Roles of roles.toml: every active user holding the role.
    #[serde(default)]
    pub roles: Vec<String>,
    /// Usernames.
    #[serde(default)]
    pub users: Vec<String>,
    /// Raw addresses `sms:<mobile>`, `email:<address>`, `im:<webhook name>`.
    #[serde(default)]
    pub addresses: Vec<String>,
    /// "The duty officer now" for a system / region / slot, resolved from the duty roster at send time.
    #[serde(default)]
    pub on_duty: Vec<OnDutyRecipient>,
}

impl RecipientSpec {
    /// True when nothing at all is named.
    pub fn is_empty(&self) -> bool {
        self.classes.is_empty()
            && self.lists.is_empty()
            && self.roles.is_empty()
            && self.users.is_empty()
            && self.addresses.is_empty()
            && self.on_duty.is_empty()
    }
}

/// "The duty officer now" (issue item 7): resolved by the duty roster's `on_duty_at` at send time.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OnDutyRecipient {
    #[serde(default)]
    pub system: Option<String>,
    #[serde(default)]
    pub region: Option<String>,
    #[serde(default)]
    pub slot: Option<String>,
}

/// One resolved target: a person (or a raw address) with where to reach them.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    /// `user:<id>`, `contact:<id>` or `address:<channel>:<address>`: the de-duplication identity.
    pub key: String,
    pub name: String,
    pub locale: Option<String>,
    pub mobile: Option<String>,
    pub email: Option<String>,
    /// For raw addresses: the only channel and address.
    pub fixed: Option<(String, String)>,
}

/// Something named that could not be turned into people; recorded as a skipped delivery so it is visible.
#[derive(Debug, Clone, PartialEq)]
pub struct Unresolved {
    pub what: String,
    pub why: String,
}

fn from_person(p: Person) -> Target {
    Target {
        key: p.member,
        name: p.name,
        locale: Some(p.locale),
        mobile: p.mobile,
        email: p.email,
        fixed: None,
    }
}

/// Resolves `spec` now: classes and lists to members, roles to users, usernames to users; one target per person.
pub async fn resolve(
    p: &crate::Platform,
    pol: &NotifyPolicy,
    spec: &RecipientSpec,
) -> ServiceResult<(Vec<Target>, Vec<Unresolved>)> {
    let store = &p.store;
    let mut out: BTreeMap<String, Target> = BTreeMap::new();
    let mut order: Vec<String> = Vec::new();
    let mut missing = Vec::new();
    let mut add = |t: Target, out: &mut BTreeMap<String, Target>| {
        if !out.contains_key(&t.key) {
            order.push(t.key.clone());
            out.insert(t.key.clone(), t);
        }
    };
    let mut lists: Vec<String> = Vec::new();
    for c in &spec.classes {
        match pol.class(c) {
            Some(class) => lists.push(class.list.clone()),
            None => missing.push(Unresolved {
                what: format!("class:{c}"),
                why: "no such recipient class in notifications.toml".into(),
            }),
        }
    }
    lists.extend(spec.lists.iter().cloned());
    for l in &lists {
        if store.recipient_list(l).await?.is_none() {
            missing.push(Unresolved {
                what: format!("list:{l}"),
                why: "no recipient list with this key".into(),
            });
            continue;
        }
        for p in store.list_people(l).await? {
            add(from_person(p), &mut out);
        }
    }
    for r in &spec.roles {
        let people = store.role_people(r).await?;
        if people.is_empty() {
            missing.push(Unresolved {
                what: format!("role:{r}"),
                why: "nobody holds this role".into(),
            });
        }
        for p in people {
            add(from_person(p), &mut out);
        }
    }
    for u in &spec.users {
        match store.user_person(u).await? {
            Some(p) => add(from_person(p), &mut out),
            None => missing.push(Unresolved {
                what: format!("user:{u}"),
                why: "no active user with this name".into(),
            }),
        }
    }
    for a in &spec.addresses {
        match a.split_once(':') {
            Some((ch @ ("sms" | "email" | "im"), addr)) if !addr.trim().is_empty() => add(
                Target {
                    key: format!("address:{ch}:{addr}"),
                    name: addr.to_string(),
                    locale: None,
                    mobile: None,
                    email: None,
                    fixed: Some((ch.to_string(), addr.to_string())),
                },
                &mut out,
            ),
            _ => missing.push(Unresolved {
                what: format!("address:{a}"),
                why: "not sms:<mobile>, email:<address> or im:<webhook>".into(),
            }),
        }
    }
    if !spec.on_duty.is_empty() {
        // "The duty officer now": resolved at send time through the roster's in-memory index (issue item 7).
        let now = p.clock.now();
        for d in &spec.on_duty {
            let q = crate::duty::OnDutyQuery {
                system: d.system.as_deref(),
                region: d.region.as_deref(),
                slot: d.slot.as_deref(),
            };
            let what = format!(
                "on_duty:{}/{}/{}",
                d.system.as_deref().unwrap_or("*"),
                d.region.as_deref().unwrap_or("*"),
                d.slot.as_deref().unwrap_or("*")
            );
            let people = crate::duty::on_duty_at(p, now, &q).await?;
            if people.is_empty() {
                missing.push(Unresolved {
                    what,
                    why: "nobody is on duty now for this query".into(),
                });
                continue;
            }
            for o in people {
                match store.user_person(&o.person).await? {
                    Some(person) => add(from_person(person), &mut out),
                    None => missing.push(Unresolved {
                        what: format!("{what}:{}", o.person),
                        why: "the rostered person is not an active user".into(),
                    }),
                }
            }
        }
    }
    let targets = order.into_iter().filter_map(|k| out.remove(&k)).collect();
    Ok((targets, missing))
}

/// Validates the names in `spec` exist (classes, lists, roles, users, address shapes); errors name the field.
pub async fn check(
    store: &Store,
    pol: &NotifyPolicy,
    duty: &tianshu_core::policy::DutyPolicy,
    roles: &[String],
    spec: &RecipientSpec,
) -> ServiceResult<()> {
    use crate::ServiceError;
    if spec.is_empty() {
        return Err(ServiceError::invalid_zh(
            "recipients",
            "name at least one recipient (class, list, role, user, address or on_duty)",
            "至少指定一个接收对象",
        ));
    }
    for (i, c) in spec.classes.iter().enumerate() {
        if pol.class(c).is_none() {
            return Err(ServiceError::unknown_ref(
                format!("recipients.classes[{i}]"),
                format!("'{c}' is not a recipient class"),
                format!("'{c}' 不是接收人类别"),
            ));
        }
    }
    for (i, l) in spec.lists.iter().enumerate() {
        if store.recipient_list(l).await?.is_none() {
            return Err(ServiceError::unknown_ref(
                format!("recipients.lists[{i}]"),
                format!("no recipient list '{l}'"),
                format!("没有名单 '{l}'"),
            ));
        }
    }
    for (i, r) in spec.roles.iter().enumerate() {
        if !roles.contains(r) {
            return Err(ServiceError::unknown_ref(
                format!("recipients.roles[{i}]"),
                format!("'{r}' is not a role"),
                format!("'{r}' 不是角色"),
            ));
        }
    }
    for (i, u) in spec.users.iter().enumerate() {
        if store.user_person(u).await?.is_none() {
            return Err(ServiceError::unknown_ref(
                format!("recipients.users[{i}]"),
                format!("no active user '{u}'"),
                format!("没有在用的用户 '{u}'"),
            ));
        }
    }
    for (i, d) in spec.on_duty.iter().enumerate() {
        if let Some(slot) = &d.slot {
            if duty.slot(slot).is_none() {
                return Err(ServiceError::unknown_ref(
                    format!("recipients.on_duty[{i}].slot"),
                    format!("'{slot}' is not a duty slot of duty.toml"),
                    format!("'{slot}' 不是值班岗位"),
                ));
            }
        }
    }
    for (i, a) in spec.addresses.iter().enumerate() {
        let ok =
            matches!(a.split_once(':'), Some(("sms" | "email" | "im", v)) if !v.trim().is_empty());
        if !ok {
            return Err(ServiceError::invalid_zh(
                format!("recipients.addresses[{i}]"),
                "expected sms:<mobile>, email:<address> or im:<webhook name>",
                "地址格式应为 sms:<手机号>、email:<邮箱> 或 im:<机器人名>",
            ));
        }
    }
    Ok(())
}
