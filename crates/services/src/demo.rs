//! The invented demo organisation: a province centre, its branches and teams, two vendors,
//! monitored systems and one user for every role, so a newcomer sees a populated platform.
//!
//! Every name here is invented; no real person, vendor or carrier appears.

use serde_json::json;
use tianshu_store::audit::{append, NewAuditEntry};
use tianshu_store::identity::{
    insert_org, insert_system, insert_user, set_user_roles, NewOrg, NewUser,
};

use crate::error::ServiceResult;
use crate::secrets;
use crate::Platform;

/// The password of every demo user (demo mode only; printed at start).
pub const DEMO_PASSWORD: &str = "tianshu-demo";

/// Branches: key, Chinese name. DUTY-02 names the first seven as the central duty team's branches.
pub const BRANCHES: &[(&str, &str)] = &[
    ("guangzhou", "广州分部"),
    ("shenzhen", "深圳分部"),
    ("dongguan", "东莞分部"),
    ("foshan", "佛山分部"),
    ("zhongshan", "中山分部"),
    ("huizhou", "惠州分部"),
    ("shantou", "汕头分部"),
    ("zhuhai", "珠海分部"),
    ("jiangmen", "江门分部"),
    ("zhanjiang", "湛江分部"),
];

/// Monitored systems: key, name, vendor organisation key.
const SYSTEMS: &[(&str, &str, &str)] = &[
    ("agent-portal", "代理商门户", "vendor-tianheng"),
    ("crm", "CRM 客户关系管理", "vendor-tianheng"),
    ("billing", "计费系统", "vendor-beichen"),
    ("esb", "ESB 企业服务总线", "vendor-beichen"),
];

/// Demo users: username, display name, organisation key, roles.
const USERS: &[(&str, &str, &str, &[&str])] = &[
    ("admin", "演示管理员", "prov-it", &["administrator"]),
    (
        "preproc",
        "预处理员（演示）",
        "prov-faultdesk",
        &["pre_processor"],
    ),
    ("auditor", "审核员（演示）", "prov-faultdesk", &["reviewer"]),
    (
        "billing",
        "计费申告班（演示）",
        "prov-faultdesk",
        &["billing_declaration"],
    ),
    (
        "datafix",
        "数据修改班（演示）",
        "prov-faultdesk",
        &["data_modification_duty"],
    ),
    (
        "esc-a",
        "升级值班A角（演示）",
        "prov-faultdesk",
        &["escalation_duty_a"],
    ),
    (
        "esc-b",
        "升级值班B角（演示）",
        "prov-faultdesk",
        &["escalation_duty_b"],
    ),
    ("duty", "值班员（演示）", "prov-support", &["duty_officer"]),
    (
        "fault-lead",
        "故障处理组组长（演示）",
        "prov-faultdesk",
        &["fault_group_leader"],
    ),
    (
        "room-mgr",
        "室经理（演示）",
        "prov-ops-room",
        &["room_manager"],
    ),
    (
        "dept-mgr",
        "部门经理（演示）",
        "prov",
        &["department_manager"],
    ),
    (
        "centre-mgr",
        "中心经理（演示）",
        "prov",
        &["centre_manager"],
    ),
    ("deputy", "分管副主任（演示）", "prov", &["deputy_director"]),
    (
        "prb-coord",
        "问题管理协调人（演示）",
        "prov-ops-room",
        &["problem_coordinator"],
    ),
    ("dba", "数据库管理员（演示）", "prov-it", &["dba"]),
    ("acct-mgr", "客户经理（演示）", "prov", &["account_manager"]),
    ("viewer", "只读用户（演示）", "prov", &["read_only"]),
    (
        "vendor-crm",
        "厂商工程师·CRM（演示）",
        "vendor-tianheng",
        &["vendor_engineer"],
    ),
    (
        "vendor-esb",
        "厂商工程师·ESB（演示）",
        "vendor-beichen",
        &["vendor_engineer"],
    ),
    (
        "gz-duty",
        "广州分部值班员（演示）",
        "guangzhou-support",
        &["duty_officer"],
    ),
    (
        "fs-duty",
        "佛山分部值班员（演示）",
        "foshan-support",
        &["duty_officer"],
    ),
    (
        "sz-duty",
        "深圳分部值班员（演示）",
        "shenzhen-support",
        &["duty_officer"],
    ),
];

/// The DUTY-02 central duty team: username, invented display name, organisation, fake mobile (138-0000-xxxx).
/// Two per rotation branch (the first works the day shift of the branch's weekday, the second the evening) and
/// the HQ pair of the business-support room.
pub const DUTY_TEAM: &[(&str, &str, &str, &str)] = &[
    (
        "duty-sz-1",
        "沈一帆（演示）",
        "shenzhen-support",
        "138-0000-0101",
    ),
    (
        "duty-sz-2",
        "沈二川（演示）",
        "shenzhen-support",
        "138-0000-0102",
    ),
    (
        "duty-gz-1",
        "顾一舟（演示）",
        "guangzhou-support",
        "138-0000-0201",
    ),
    (
        "duty-gz-2",
        "顾二岚（演示）",
        "guangzhou-support",
        "138-0000-0202",
    ),
    (
        "duty-dg-1",
        "董一言（演示）",
        "dongguan-support",
        "138-0000-0301",
    ),
    (
        "duty-dg-2",
        "董二禾（演示）",
        "dongguan-support",
        "138-0000-0302",
    ),
    (
        "duty-fs-1",
        "方一鸣（演示）",
        "foshan-support",
        "138-0000-0401",
    ),
    (
        "duty-fs-2",
        "方二溪（演示）",
        "foshan-support",
        "138-0000-0402",
    ),
    (
        "duty-zs-1",
        "钟一然（演示）",
        "zhongshan-support",
        "138-0000-0501",
    ),
    (
        "duty-zs-2",
        "钟二野（演示）",
        "zhongshan-support",
        "138-0000-0502",
    ),
    (
        "duty-hz-1",
        "何一川（演示）",
        "huizhou-support",
        "138-0000-0601",
    ),
    (
        "duty-hz-2",
        "何二苗（演示）",
        "huizhou-support",
        "138-0000-0602",
    ),
    (
        "duty-st-1",
        "宋一岩（演示）",
        "shantou-support",
        "138-0000-0701",
    ),
    (
        "duty-st-2",
        "宋二晴（演示）",
        "shantou-support",
        "138-0000-0702",
    ),
    (
        "duty-hq-1",
        "韩一诺（演示）",
        "prov-support",
        "138-0000-0801",
    ),
    (
        "duty-hq-2",
        "韩二安（演示）",
        "prov-support",
        "138-0000-0802",
    ),
];

/// The demo team as a rotation team: branch key from the team's organisation key.
pub fn duty_team() -> tianshu_core::duty::Team {
    let mut t = tianshu_core::duty::Team::default();
    for (u, _, org, _) in DUTY_TEAM {
        match org.strip_suffix("-support") {
            Some("prov") | None => t.hq.push((*u).into()),
            Some(branch) => t
                .branches
                .entry(branch.into())
                .or_default()
                .push((*u).into()),
        }
    }
    t
}

/// Weeks of demo roster before and after the current week.
const DEMO_ROSTER_WEEKS_BEFORE: i64 = 1;
const DEMO_ROSTER_WEEKS_AFTER: i64 = 4;

/// Loads the demo organisation unless users already exist; returns whether it loaded anything.
pub async fn load(p: &Platform) -> ServiceResult<bool> {
    if p.store.user_count().await? > 0 {
        return Ok(false);
    }
    let pol = p.policy.current();
    // Only assign roles the active pack defines, so an edited pack never breaks the demo.
    let known: Vec<String> = pol.pack.roles.iter().map(|r| r.key.clone()).collect();
    let hash = secrets::hash_password(DEMO_PASSWORD)?;
    let now = p.now_us();
    p.store
        .write(move |c| {
            Box::pin(async move {
                let org = |key: &str, name: &str, kind: &str, parent: Option<i64>| NewOrg {
                    key: key.into(),
                    name: name.into(),
                    kind: kind.into(),
                    parent_id: parent,
                };
                let prov =
                    insert_org(c, org("prov", "省IT运营中心", "province", None), now).await?;
                let mut keys = std::collections::HashMap::new();
                keys.insert("prov".to_string(), prov.id);
                for (k, n) in [
                    ("prov-faultdesk", "故障处理组"),
                    ("prov-ops-room", "运营管理室"),
                    ("prov-support", "业务支撑室"),
                    ("prov-it", "系统维护组"),
                ] {
                    let o = insert_org(c, org(k, n, "team", Some(prov.id)), now).await?;
                    keys.insert(k.to_string(), o.id);
                }
                for (k, n) in BRANCHES {
                    let b = insert_org(c, org(k, n, "branch", Some(prov.id)), now).await?;
                    keys.insert(k.to_string(), b.id);
                    let team_key = format!("{k}-support");
                    let t = insert_org(
                        c,
                        org(&team_key, &format!("{n}支撑组"), "team", Some(b.id)),
                        now,
                    )
                    .await?;
                    keys.insert(team_key, t.id);
                }
                for (k, n) in [
                    ("vendor-tianheng", "天衡软件（虚构厂商）"),
                    ("vendor-beichen", "北辰信息（虚构厂商）"),
                ] {
                    let v = insert_org(c, org(k, n, "vendor", None), now).await?;
                    keys.insert(k.to_string(), v.id);
                }
                for &(k, n, v) in SYSTEMS {
                    insert_system(
                        c,
                        k,
                        n,
                        keys.get("prov-it").copied(),
                        keys.get(v).copied(),
                        now,
                    )
                    .await?;
                }
                let mut created = 0;
                for (username, display, org_key, roles) in USERS {
                    let Some(org_id) = keys.get(*org_key).copied() else {
                        continue;
                    };
                    let u = insert_user(
                        c,
                        NewUser {
                            username: (*username).into(),
                            display_name: (*display).into(),
                            org_id,
                            email: Some(format!("{username}@demo.invalid")),
                            phone: None,
                            locale: "zh-CN".into(),
                            province_scope: false,
                            password_hash: Some(hash.clone()),
                        },
                        now,
                    )
                    .await?;
                    let rs: Vec<String> = roles
                        .iter()
                        .map(|r| r.to_string())
                        .filter(|r| known.contains(r))
                        .collect();
                    set_user_roles(c, u.id, &rs).await?;
                    created += 1;
                }
                for (username, display, org_key, phone) in DUTY_TEAM {
                    let Some(org_id) = keys.get(*org_key).copied() else {
                        continue;
                    };
                    let u = insert_user(
                        c,
                        NewUser {
                            username: (*username).into(),
                            display_name: (*display).into(),
                            org_id,
                            email: Some(format!("{username}@demo.invalid")),
                            phone: Some((*phone).into()),
                            locale: "zh-CN".into(),
                            province_scope: false,
                            password_hash: Some(hash.clone()),
                        },
                        now,
                    )
                    .await?;
                    if known.iter().any(|k| k == "duty_officer") {
                        set_user_roles(c, u.id, &["duty_officer".to_string()]).await?;
                    }
                    created += 1;
                }
                append(
                    c,
                    NewAuditEntry {
                        actor: "system:demo".into(),
                        action: "demo.load".into(),
                        object_type: "platform".into(),
                        object_id: "demo".into(),
                        before: None,
                        after: Some(json!({"users": created, "branches": BRANCHES.len()})),
                        request_id: None,
                        at: now,
                    },
                )
                .await?;
                Ok(())
            })
        })
        .await?;
    // DUTY-04: the rotation of the current weeks, so "who is on duty now" has an answer in the demo.
    let (monday, _) = crate::duty::week_of(crate::duty::today(p));
    let from = monday - chrono::Duration::weeks(DEMO_ROSTER_WEEKS_BEFORE);
    let to =
        monday + chrono::Duration::weeks(DEMO_ROSTER_WEEKS_AFTER + 1) - chrono::Duration::days(1);
    let mut actor = crate::authz::Principal::cli_admin();
    actor.username = "demo".into();
    // An edited pack may name branches the demo does not have: the demo still loads, without a roster.
    if let Err(e) = crate::duty::generate(
        p,
        &actor,
        crate::duty::GenerateRequest {
            from: from.format("%Y-%m-%d").to_string(),
            to: to.format("%Y-%m-%d").to_string(),
            team: duty_team(),
            publish: true,
        },
    )
    .await
    {
        tracing::warn!(error = %e, "demo duty roster not generated");
    }
    Ok(true)
}

/// One invented contact of the demo lists: (list keys it belongs to, display name).
struct DemoContact {
    name: String,
    lists: Vec<String>,
}

/// The demo's recipient lists and contacts, following the pack: one list per recipient class (NTF-02) and the
/// regional lists (NTF-10, shaped like the worked example: a base list of 20, a Guangzhou list of 6 of whom 3
/// are on the base list, a Shenzhen list of 4 others). Names are invented, numbers are 138-0000-NNNN and
/// e-mail addresses end in `@example.invalid`.
fn demo_contacts(
    pol: &tianshu_core::policy::NotifyPolicy,
) -> (Vec<(String, String)>, Vec<DemoContact>) {
    let mut lists: Vec<(String, String)> = Vec::new();
    let mut people: Vec<DemoContact> = Vec::new();
    let sizes = [("A", 4), ("B", 3), ("C", 4), ("D", 2)];
    for c in &pol.classes {
        lists.push((c.list.clone(), format!("{}（演示）", c.name_zh)));
        let n = sizes
            .iter()
            .find(|(k, _)| *k == c.key)
            .map(|(_, n)| *n)
            .unwrap_or(2);
        for i in 1..=n {
            people.push(DemoContact {
                name: format!("{}类联系人{i:02}（演示）", c.key),
                lists: vec![c.list.clone()],
            });
        }
    }
    for g in &pol.regional {
        let system = SYSTEMS
            .iter()
            .find(|(k, _, _)| *k == g.system)
            .map(|(_, n, _)| n.to_string())
            .unwrap_or_else(|| g.system.clone());
        lists.push((
            g.base_list.clone(),
            format!("{system}故障短信通报名单（演示）"),
        ));
        let base: Vec<usize> = (1..=20)
            .map(|i| {
                people.push(DemoContact {
                    name: format!("门户通报人{i:02}（演示）"),
                    lists: vec![g.base_list.clone()],
                });
                people.len() - 1
            })
            .collect();
        for (n, e) in g.extra.iter().enumerate() {
            let region = BRANCHES
                .iter()
                .find(|(k, _)| *k == e.region)
                .map(|(_, n)| n.to_string())
                .unwrap_or_else(|| e.region.clone());
            lists.push((
                e.list.clone(),
                format!("{system}故障短信·{region}增加名单（演示）"),
            ));
            // The first extra list shares three people with the base list (NTF-10 example); the others none.
            let (shared, own) = if n == 0 { (3, 3) } else { (0, 4) };
            for &b in base.iter().take(shared) {
                people[b].lists.push(e.list.clone());
            }
            for i in 1..=own {
                people.push(DemoContact {
                    name: format!("{region}通报人{i:02}（演示）"),
                    lists: vec![e.list.clone()],
                });
            }
        }
    }
    (lists, people)
}

/// Loads the demo recipient lists and contacts unless any list or contact exists; returns whether it loaded.
pub async fn load_recipients(p: &Platform) -> ServiceResult<bool> {
    if !p.store.recipient_lists().await?.is_empty() || !p.store.contacts().await?.is_empty() {
        return Ok(false);
    }
    let pol = p.policy.current();
    let (lists, people) = demo_contacts(&pol.pack.notifications);
    let now = p.now_us();
    p.store
        .write(move |c| {
            Box::pin(async move {
                use tianshu_store::notify as st;
                let mut members: std::collections::BTreeMap<String, Vec<String>> =
                    Default::default();
                for (i, person) in people.iter().enumerate() {
                    let n = i + 1;
                    let k = st::insert_contact(
                        c,
                        &person.name,
                        Some(&format!("138-0000-{n:04}")),
                        Some(&format!("contact{n:02}@example.invalid")),
                        "zh-CN",
                        now,
                    )
                    .await?;
                    for l in &person.lists {
                        members
                            .entry(l.clone())
                            .or_default()
                            .push(format!("contact:{}", k.id));
                    }
                }
                for (key, name) in &lists {
                    let l = match st::list_in_tx(c, key).await? {
                        Some(l) => l,
                        None => st::insert_list(c, key, name, now).await?,
                    };
                    let m = members.get(key).cloned().unwrap_or_default();
                    st::set_list_members(c, &l, name, &m, l.version, now).await?;
                }
                append(
                    c,
                    NewAuditEntry {
                        actor: "system:demo".into(),
                        action: "demo.load_recipients".into(),
                        object_type: "platform".into(),
                        object_id: "demo".into(),
                        before: None,
                        after: Some(json!({"lists": lists.len(), "contacts": people.len()})),
                        request_id: None,
                        at: now,
                    },
                )
                .await?;
                Ok(())
            })
        })
        .await?;
    Ok(true)
}

/// Demo monitoring (issue 5): a dial-test probe of the demo server itself (its health check and login page,
/// so the offline demo shows runs, availability and latency) and a few invented alerts. Runs once: nothing
/// is added when a probe exists already. `base` is the server's own URL, e.g. `http://127.0.0.1:8080`.
pub async fn load_monitoring(p: &Platform, base: &str) -> ServiceResult<bool> {
    if !p.store.probes().await?.is_empty() {
        return Ok(false);
    }
    let scenario = serde_json::json!({"steps": [
        {"name": "健康检查", "url": format!("{base}/healthz"), "assert": {"status": 200, "max_latency_ms": 2000}},
        {"name": "登录页", "url": format!("{base}/login"), "assert": {"status": 200, "body_contains": "<form"}},
    ]});
    let def = tianshu_store::monitoring::ProbeDef {
        name: "天枢自检:健康检查与登录页".into(),
        system: "tianshu".into(),
        region: String::new(),
        severity: "warning".into(),
        scenario: scenario.to_string(),
        secrets: "{}".into(),
        enabled: true,
    };
    let now = p.now_us();
    // The first run a few seconds after start, then on the MON-05 schedule.
    p.store
        .write(move |c| {
            Box::pin(async move {
                tianshu_store::monitoring::insert_probe(
                    c,
                    &def,
                    "system:demo",
                    now + 5_000_000,
                    now,
                )
                .await
            })
        })
        .await?;
    let label = |alertname: &str, system: &str, region: &str, severity: &str| {
        crate::monitoring::alert_labels(alertname, "demo-host-01", system, region, severity)
    };
    for (key, labels, summary, resolve) in [
        (
            "demo-crm-order",
            label("OrderSubmitFailures", "crm", "guangzhou", "critical"),
            "CRM 下单接口失败率 12%(演示)",
            false,
        ),
        (
            "demo-portal-slow",
            label("PortalSlowPages", "agent-portal", "shenzhen", "warning"),
            "代理商门户页面响应超过 5 秒(演示)",
            false,
        ),
        (
            "demo-billing-disk",
            label("DiskAlmostFull", "billing", "", "warning"),
            "计费库主机磁盘使用率 91%(演示)",
            true,
        ),
    ] {
        crate::alerts::ingest_internal(
            p,
            "events",
            format!("ev:{key}"),
            true,
            labels,
            summary.into(),
        )
        .await?;
        if resolve {
            crate::alerts::ingest_internal(
                p,
                "events",
                format!("ev:{key}"),
                false,
                Default::default(),
                String::new(),
            )
            .await?;
        }
    }
    Ok(true)
}

/// Demo group customers (issue 8 item 2): key, invented name, tier, serving branch. Registered in this order so
/// every step stays within the SLA-02 quotas (silver ≤ floor(20 % × N) holds only once five are registered;
/// key-assurance counts in the total but has no quota).
const DEMO_CUSTOMERS: &[(&str, &str, &str, &str)] = &[
    (
        "demo-port",
        "临江港务集团（虚构）",
        "key_assurance",
        "guangzhou",
    ),
    ("demo-logistics", "云岭物流集团（虚构）", "gold", "shenzhen"),
    ("demo-retail", "青禾连锁超市（虚构）", "bronze", "foshan"),
    ("demo-school", "星渡教育集团（虚构）", "bronze", "dongguan"),
    (
        "demo-factory",
        "海澄制造股份（虚构）",
        "silver",
        "guangzhou",
    ),
];

/// Demo orders: customer key, stage, access points, city — only stage × tier cells the seed fills (SLA-04),
/// so the limits shown are the seed's (SLA-05 worked example: provisioning, 7 points, silver → 13 WD).
const DEMO_ORDERS: &[(&str, &str, i64, &str)] = &[
    ("demo-factory", "provisioning", 7, "广州"),
    ("demo-retail", "construction_survey", 8, "佛山"),
    ("demo-school", "existing_network_survey", 3, "东莞"),
];

/// Demo group customers and provisioning orders so `/customers` is not empty (the CLI's demo only: in-process
/// test apps count customers and quotas from zero). Runs once: nothing is added when a customer exists.
pub async fn load_customers(p: &Platform) -> ServiceResult<bool> {
    if !p.store.group_customers().await?.is_empty() {
        return Ok(false);
    }
    let mut actor = crate::authz::Principal::cli_admin();
    actor.username = "demo".into();
    for (key, name, tier, org) in DEMO_CUSTOMERS {
        crate::customers::create(
            p,
            &actor,
            crate::customers::NewCustomerInput {
                key: (*key).into(),
                name: (*name).into(),
                tier: (*tier).into(),
                org_key: Some((*org).into()),
            },
        )
        .await?;
    }
    for (key, stage, points, city) in DEMO_ORDERS {
        crate::provisioning::create(
            p,
            &actor,
            key,
            crate::provisioning::NewOrderInput {
                stage: (*stage).into(),
                access_points: *points,
                city: (*city).into(),
                note: Some("演示数据".into()),
            },
        )
        .await?;
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_lists_follow_the_ntf_10_example_shape() {
        let pack = crate::policy::PackSource::Embedded
            .load()
            .expect("default pack");
        let (lists, people) = demo_contacts(&pack.notifications);
        let size = |k: &str| {
            people
                .iter()
                .filter(|p| p.lists.iter().any(|l| l == k))
                .count()
        };
        assert_eq!(size("agent_portal_base"), 20);
        assert_eq!(size("agent_portal_guangzhou"), 6);
        assert_eq!(size("agent_portal_shenzhen"), 4);
        let union = |ks: &[&str]| {
            people
                .iter()
                .filter(|p| p.lists.iter().any(|l| ks.contains(&l.as_str())))
                .count()
        };
        // NTF-10 worked example: 23 with Guangzhou, 24 with Shenzhen, 27 with both.
        assert_eq!(union(&["agent_portal_base", "agent_portal_guangzhou"]), 23);
        assert_eq!(union(&["agent_portal_base", "agent_portal_shenzhen"]), 24);
        assert_eq!(
            union(&[
                "agent_portal_base",
                "agent_portal_guangzhou",
                "agent_portal_shenzhen"
            ]),
            27
        );
        for c in ["class_a", "class_b", "class_c", "class_d"] {
            assert!(lists.iter().any(|(k, _)| k == c), "{c}");
            assert!(size(c) > 0, "{c}");
        }
        assert!(people.iter().all(|p| p.name.contains("演示")));
    }
}
