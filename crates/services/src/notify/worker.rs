//! The delivery worker: expands queued outbox messages into per-recipient deliveries (recipients resolved and
//! texts rendered at send time), sends them, retries with exponential backoff and jitter, bundles bursts over
//! the per-recipient rate limit into digests, and dead-letters with an alert after the last attempt.
//!
//! Every message is a row before anything is sent; every delivery is a row (unique delivery key) before it is
//! sent; a delivery is leased while it is being sent and its outcome is recorded with the lease held. A crash
//! between sending and recording re-sends that one delivery once the lease expires, with the same key, so the
//! receiver can drop it; nothing is lost and nothing is sent twice under a different key.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tianshu_core::notify::backoff;
use tianshu_store::notify::{self as st, Delivery, Message, MessageUpdate, NewDelivery, Outcome};
use tianshu_store::timers::{insert_event, insert_outbox, NewEvent, NewOutbox};
use tianshu_store::{Conn, StoreResult};

use super::channels::{Channels, Outgoing};
use super::recipients::{resolve, RecipientSpec};
use super::{render_template, template, EffectiveTemplate, Rendered};
use crate::policy::ActivePolicy;
use crate::Platform;

/// One pass: expand up to `batch` queued messages, then send up to `batch` due deliveries; returns the work done.
pub async fn tick(p: &Platform, ch: &Channels, owner: &str, batch: i64) -> StoreResult<usize> {
    Ok(expand_batch(p, ch, owner, batch).await? + deliver_batch(p, ch, owner, batch).await?)
}

/// Expands up to `batch` queued messages into their deliveries; returns how many.
pub async fn expand_batch(
    p: &Platform,
    ch: &Channels,
    owner: &str,
    batch: i64,
) -> StoreResult<usize> {
    let pol = p.policy.current();
    let lease = pol.pack.notifications.delivery.lease.seconds() * 1_000_000;
    let now = p.now_us();
    let msgs = p
        .store
        .claim_queued_messages(owner, now, lease, batch)
        .await?;
    let lookups = Lookups::read(p, &pol, &msgs).await;
    // Rendering is in memory; the results are written a chunk per transaction.
    let expanded = msgs
        .into_iter()
        .map(|m| expand(p, ch, &lookups, m))
        .collect();
    Ok(apply_all(p, &pol, expanded).await)
}

/// What a batch of messages needs from storage, each distinct template and recipient spec read once.
///
/// Under load most messages of a batch share their template and recipients (every new ticket's immediate report
/// goes to the same classes), and each read is a round trip to a reader thread: resolving per message made the
/// delivery worker a large share of the server's work per ticket. Reading once per batch gives every message of
/// the batch the same answer, as if they had been expanded at the same instant.
struct Lookups {
    templates: BTreeMap<String, Result<EffectiveTemplate, String>>,
    recipients: BTreeMap<String, Result<Resolved, String>>,
}

type Resolved = (
    Vec<super::recipients::Target>,
    Vec<super::recipients::Unresolved>,
);

impl Lookups {
    async fn read(p: &Platform, pol: &ActivePolicy, msgs: &[Message]) -> Lookups {
        let ntf = &pol.pack.notifications;
        let mut templates = BTreeMap::new();
        let mut recipients = BTreeMap::new();
        for m in msgs {
            if !templates.contains_key(&m.template) {
                let t = template(p, &m.template)
                    .await
                    .map_err(|_| format!("template '{}' is not defined", m.template));
                templates.insert(m.template.clone(), t);
            }
            if !recipients.contains_key(&m.recipients) {
                let r = match serde_json::from_str::<RecipientSpec>(&m.recipients) {
                    Ok(spec) => resolve(p, ntf, &spec)
                        .await
                        .map_err(|e| format!("recipients: {e}")),
                    Err(e) => Err(format!("recipients: {e}")),
                };
                recipients.insert(m.recipients.clone(), r);
            }
        }
        Lookups {
            templates,
            recipients,
        }
    }
}

/// Sends up to `batch` due deliveries and records their outcomes; returns how many.
pub async fn deliver_batch(
    p: &Platform,
    ch: &Channels,
    owner: &str,
    batch: i64,
) -> StoreResult<usize> {
    let pol = p.policy.current();
    let lease = pol.pack.notifications.delivery.lease.seconds() * 1_000_000;
    let mut done = 0;
    let ds = p
        .store
        .claim_due_deliveries(owner, p.now_us(), lease, batch)
        .await?;
    // Deliveries to one address go one after another: the rate limit counts what was sent before, and one
    // held delivery sends the digest of all held for that address (the others are marked digested with it).
    let mut groups: BTreeMap<(String, String), Vec<Delivery>> = BTreeMap::new();
    for d in ds {
        groups
            .entry((d.channel.clone(), d.address.clone()))
            .or_default()
            .push(d);
    }
    // What each address already received inside the rate window, read once for the whole batch.
    let window = pol.pack.notifications.delivery.rate_window.seconds() * 1_000_000;
    let keys: Vec<(String, String)> = groups.keys().cloned().collect();
    let sent_before = p
        .store
        .sent_to_since_many(&keys, p.now_us() - window)
        .await?;
    let results = futures::future::join_all(groups.into_iter().map(|(key, group)| {
        let pol = pol.clone();
        let prior = sent_before.get(&key).copied().unwrap_or((0, None));
        async move {
            let mut out = Vec::with_capacity(group.len());
            let mut digest_sent = false;
            // Sent earlier in this group but not yet recorded: the rate limit counts them too.
            let mut sent_here = 0;
            for d in group {
                if d.state == "held" {
                    if digest_sent {
                        continue;
                    }
                    digest_sent = true;
                }
                let id = d.id;
                let r = deliver(p, &pol, ch, owner, d, (prior.0 + sent_here, prior.1)).await;
                if let Ok(Some((_, Outcome::Sent { .. }, _))) = &r {
                    sent_here += 1;
                }
                out.push((id, r));
            }
            out
        }
    }))
    .await;
    let mut outcomes = Vec::new();
    for (id, r) in results.into_iter().flatten() {
        match r {
            Ok(Some(o)) => outcomes.push(o),
            Ok(None) => done += 1,
            Err(e) => {
                tracing::error!(delivery = id, error = %e, "cannot record delivery; will retry after the lease")
            }
        }
    }
    done += record_all(p, &pol, owner, outcomes).await;
    Ok(done)
}

/// Rows written per transaction when a batch of expansions or outcomes is recorded.
const CHUNK: usize = 25;

/// Records a batch of outcomes in one transaction (one commit instead of one per delivery); if that fails,
/// one by one, so a single bad row cannot hold the others back.
async fn record_all(
    p: &Platform,
    pol: &Arc<ActivePolicy>,
    owner: &str,
    mut outcomes: Vec<(Delivery, Outcome, i64)>,
) -> usize {
    if outcomes.is_empty() {
        return 0;
    }
    // Messages are locked in id order, so two instances recording overlapping batches cannot deadlock.
    outcomes.sort_by_key(|(d, _, _)| (d.outbox_id, d.id));
    let mut done = 0;
    let mut failed = Vec::new();
    let results = futures::future::join_all(outcomes.chunks(CHUNK).map(|chunk| {
        let (batch, owner_s, pol2) = (chunk.to_vec(), owner.to_string(), pol.clone());
        async move {
            let r = p
                .store
                .write(move |c| {
                    Box::pin(async move {
                        for (d, outcome, now) in batch {
                            if st::record_delivery(c, d.id, &owner_s, &outcome, now).await? {
                                finalize(c, &pol2, d.outbox_id, now).await?;
                            }
                        }
                        Ok(())
                    })
                })
                .await;
            (chunk, r)
        }
    }))
    .await;
    for (chunk, r) in results {
        match r {
            Ok(()) => done += chunk.len(),
            Err(_) => failed.extend_from_slice(chunk),
        }
    }
    for (d, outcome, now) in failed {
        match record(p, pol, owner, &d, outcome, now).await {
            Ok(()) => done += 1,
            Err(e) => {
                tracing::error!(delivery = d.id, error = %e, "cannot record delivery; will retry after the lease")
            }
        }
    }
    done
}

fn address_of(t: &super::recipients::Target, channel: &str) -> Option<String> {
    match channel {
        "sms" => t.mobile.clone(),
        "email" => t.email.clone(),
        _ => None,
    }
    .filter(|a| !a.trim().is_empty())
}

/// Turns one queued message into its deliveries (or fails it when it cannot be rendered or resolved).
fn expand(p: &Platform, ch: &Channels, lookups: &Lookups, m: Message) -> Expansion {
    let now = p.now_us();
    let mut rows: Vec<NewDelivery> = Vec::new();
    let mut failure: Option<String> = None;
    let prepared = (|| {
        let t = match lookups.templates.get(&m.template) {
            Some(Ok(t)) => t,
            Some(Err(e)) => return Err(e.clone()),
            None => return Err(format!("template '{}' is not defined", m.template)),
        };
        let context: Value = serde_json::from_str(&m.context).unwrap_or(Value::Null);
        let channels: Vec<String> = m
            .channels
            .as_deref()
            .and_then(|c| serde_json::from_str(c).ok())
            .unwrap_or_else(|| {
                t.def
                    .channels
                    .iter()
                    .map(|c| c.as_str().to_string())
                    .collect()
            });
        let (targets, missing) = match lookups.recipients.get(&m.recipients) {
            Some(Ok((t, u))) => (t.clone(), u.clone()),
            Some(Err(e)) => return Err(e.clone()),
            None => return Err("recipients: not resolved".to_string()),
        };
        let mut cache: BTreeMap<&'static str, Rendered> = BTreeMap::new();
        let mut out = Vec::new();
        for target in targets {
            let locale = target.locale.clone().unwrap_or_else(|| m.locale.clone());
            let lang = if locale.starts_with("en") { "en" } else { "zh" };
            if !cache.contains_key(lang) {
                let r = render_template(&t.def, &locale, &context).map_err(|e| e.to_string())?;
                cache.insert(lang, r);
            }
            let r = &cache[lang];
            let pairs: Vec<(String, Option<String>)> = match &target.fixed {
                Some((c, a)) => vec![(c.clone(), Some(a.clone()))],
                None => channels
                    .iter()
                    .map(|c| (c.clone(), address_of(&target, c)))
                    .collect(),
            };
            for (channel, addr) in pairs {
                let (state, error, address) = match addr {
                    None => (
                        "skipped",
                        Some(format!("no {channel} address on record")),
                        String::new(),
                    ),
                    Some(a) if !ch.supports(&channel, &a) => (
                        "skipped",
                        Some(format!("{channel} channel not configured")),
                        a,
                    ),
                    Some(a) => ("pending", None, a),
                };
                out.push(NewDelivery {
                    outbox_id: m.id,
                    delivery_key: format!("{}:{}:{channel}", m.id, target.key),
                    recipient: target.key.clone(),
                    recipient_name: target.name.clone(),
                    channel,
                    address,
                    state: state.into(),
                    last_error: error,
                    subject: r.subject.clone(),
                    body: r.body.clone(),
                    now,
                });
            }
        }
        for u in missing {
            out.push(NewDelivery {
                outbox_id: m.id,
                delivery_key: format!("{}:{}:-", m.id, u.what),
                recipient: u.what.clone(),
                recipient_name: u.what,
                channel: "-".into(),
                address: String::new(),
                state: "skipped".into(),
                last_error: Some(u.why),
                subject: String::new(),
                body: String::new(),
                now,
            });
        }
        Ok::<_, String>(out)
    })();
    match prepared {
        Ok(r) => rows = r,
        Err(e) => failure = Some(e),
    }
    Expansion {
        id: m.id,
        rows,
        failure,
        now,
    }
}

/// A queued message turned into its delivery rows (or the reason it cannot be sent), not yet written.
#[derive(Clone)]
struct Expansion {
    id: i64,
    rows: Vec<NewDelivery>,
    failure: Option<String>,
    now: i64,
}

/// Writes one expansion: the message goes to `sending` with its deliveries (unless it was cancelled or
/// expanded elsewhere since it was claimed).
async fn apply(c: &mut Conn<'_>, pol: &ActivePolicy, e: Expansion) -> StoreResult<()> {
    let Some(cur) = st::message_for_update(c, e.id).await? else {
        return Ok(());
    };
    if cur.state != "queued" {
        return Ok(());
    }
    st::update_message(
        c,
        e.id,
        None,
        MessageUpdate {
            state: Some("sending".into()),
            last_error: Some(e.failure.clone()),
            release: true,
            ..Default::default()
        },
        e.now,
    )
    .await?;
    // With a delivery still to send the message cannot be final yet: skip the check.
    let open = e
        .rows
        .iter()
        .any(|r| r.state == "pending" || r.state == "held");
    for r in e.rows {
        st::insert_delivery(c, r).await?;
    }
    if open {
        return Ok(());
    }
    finalize(c, pol, e.id, e.now).await
}

/// Writes a batch of expansions in one transaction (one commit per batch); one by one if that fails.
async fn apply_all(p: &Platform, pol: &Arc<ActivePolicy>, mut batch: Vec<Expansion>) -> usize {
    if batch.is_empty() {
        return 0;
    }
    batch.sort_by_key(|e| e.id);
    let mut done = 0;
    let mut failed = Vec::new();
    // A few transactions side by side: one per chunk keeps the commits few, several keep PostgreSQL's
    // round trips in parallel (SQLite's single writer folds them into one commit anyway).
    let results = futures::future::join_all(batch.chunks(CHUNK).map(|chunk| {
        let (all, pol2) = (chunk.to_vec(), pol.clone());
        async move {
            let r = p
                .store
                .write(move |c| {
                    Box::pin(async move {
                        for e in all {
                            apply(c, &pol2, e).await?;
                        }
                        Ok(())
                    })
                })
                .await;
            (chunk, r)
        }
    }))
    .await;
    for (chunk, r) in results {
        match r {
            Ok(()) => done += chunk.len(),
            Err(_) => failed.extend_from_slice(chunk),
        }
    }
    for e in failed {
        let (id, pol2) = (e.id, pol.clone());
        match p
            .store
            .write(move |c| Box::pin(async move { apply(c, &pol2, e).await }))
            .await
        {
            Ok(()) => done += 1,
            Err(err) => {
                tracing::error!(message = id, error = %err, "cannot expand notification; will retry after the lease")
            }
        }
    }
    done
}

/// Ends a message whose deliveries are all final: `sent` when something went out and nothing died, else
/// `failed` (dead letter) with an alert to the dead-letter roles (never an alert about an alert).
async fn finalize(c: &mut Conn<'_>, pol: &ActivePolicy, id: i64, now: i64) -> StoreResult<()> {
    let Some(m) = st::message_for_update(c, id).await? else {
        return Ok(());
    };
    if m.state != "sending" {
        return Ok(());
    }
    let states = st::delivery_states(c, id).await?;
    let count = |s: &str| {
        states
            .iter()
            .filter(|(k, _)| k == s)
            .map(|(_, n)| *n)
            .sum::<i64>()
    };
    if count("pending") + count("held") > 0 {
        return Ok(());
    }
    let sent = count("sent") + count("digested");
    let dead = count("dead");
    let error = if let Some(e) = &m.last_error {
        Some(e.clone())
    } else if dead > 0 {
        Some(format!("{dead} deliveries failed after the last attempt"))
    } else if sent == 0 {
        Some("no recipient could be reached (see the delivery log)".to_string())
    } else {
        None
    };
    let state = if error.is_some() { "failed" } else { "sent" };
    st::update_message(
        c,
        id,
        None,
        MessageUpdate {
            state: Some(state.into()),
            last_error: Some(error.clone()),
            sent_at: (sent > 0).then_some(now),
            release: true,
            ..Default::default()
        },
        now,
    )
    .await?;
    let kind = if state == "sent" {
        "notification.sent"
    } else {
        "notification.dead_letter"
    };
    insert_event(
        c,
        NewEvent {
            subject_kind: m.subject_kind.clone(),
            subject_id: m.subject_id.clone(),
            at: now,
            kind: kind.into(),
            actor: "system:notify".into(),
            data: json!({"message": id, "template": m.template, "sent": sent, "dead": dead, "error": error}),
            timer_id: None,
        },
    )
    .await?;
    if state == "failed" {
        metrics::counter!("tianshu_notify_dead_letters_total").increment(1);
        let d = &pol.pack.notifications.delivery;
        if m.template != d.dead_letter_template {
            let attempts: i64 = pol.pack.notifications.delivery.max_attempts.into();
            insert_outbox(
                c,
                NewOutbox {
                    // One alert per failure of this version of the message (a retried one may alert again).
                    idempotency_key: format!("dead_letter:{id}:{}", m.version),
                    subject_kind: m.subject_kind.clone(),
                    subject_id: m.subject_id.clone(),
                    template: d.dead_letter_template.clone(),
                    recipients: json!({"roles": d.dead_letter_roles}),
                    context: json!({"message_id": id.to_string(), "template": m.template, "error": error.unwrap_or_default(), "attempts": attempts.to_string()}),
                    cause: format!("dead_letter:{id}"),
                    state: "queued".into(),
                    created_at: now,
                },
            )
            .await?;
        }
    } else {
        metrics::counter!("tianshu_notify_messages_sent_total").increment(1);
        super::follow_up::schedule_after_notice(c, pol, &m, now).await?;
    }
    Ok(())
}

fn outgoing(d: &Delivery) -> Outgoing<'_> {
    Outgoing {
        channel: &d.channel,
        address: &d.address,
        name: &d.recipient_name,
        subject: &d.subject,
        body: &d.body,
        key: &d.delivery_key,
    }
}

/// Sends one leased delivery (or the digest it heads) and records the outcome.
async fn deliver(
    p: &Platform,
    pol: &Arc<ActivePolicy>,
    ch: &Channels,
    owner: &str,
    d: Delivery,
    (count, oldest): (i64, Option<i64>),
) -> StoreResult<Option<(Delivery, Outcome, i64)>> {
    let dp = &pol.pack.notifications.delivery;
    let now = p.now_us();
    let window = dp.rate_window.seconds() * 1_000_000;
    let mut digest: Option<(String, Vec<Delivery>)> = None;
    let result = if d.state == "pending" {
        if count >= i64::from(dp.rate_limit) {
            let until = oldest.unwrap_or(now) + window;
            return Ok(Some((d, Outcome::Held { until }, now)));
        }
        ch.send(&outgoing(&d)).await
    } else {
        let held = p.store.held_for(&d.channel, &d.address).await?;
        if held.len() <= 1 {
            ch.send(&outgoing(&d)).await
        } else {
            let t = template(p, &dp.digest_template).await.map_err(|e| {
                tianshu_store::StoreError::Conflict {
                    field: "digest_template".into(),
                    message: e.to_string(),
                }
            })?;
            let items: Vec<String> = held.iter().map(|h| h.body.clone()).collect();
            let ctx = json!({"count": held.len().to_string(), "items": items});
            let locale = if d.subject.is_ascii() { "en" } else { "zh-CN" };
            match render_template(&t.def, locale, &ctx) {
                Ok(r) => {
                    let key = format!("digest:{}:{}", held[0].id, held[held.len() - 1].id);
                    let res = ch
                        .send(&Outgoing {
                            channel: &d.channel,
                            address: &d.address,
                            name: &d.recipient_name,
                            subject: &r.subject,
                            body: &r.body,
                            key: &key,
                        })
                        .await;
                    digest = Some((key, held));
                    res
                }
                Err(e) => Err(super::channels::SendError {
                    message: e.to_string(),
                    permanent: true,
                }),
            }
        }
    };
    let attempts = u32::try_from(d.attempts)
        .unwrap_or(u32::MAX)
        .saturating_add(1);
    let outcome = match result {
        Ok(()) => {
            metrics::counter!("tianshu_notify_deliveries_sent_total", "channel" => d.channel.clone()).increment(1);
            Outcome::Sent {
                digest_key: digest.as_ref().map(|(k, _)| k.clone()),
            }
        }
        Err(e) if e.permanent || attempts >= dp.max_attempts => Outcome::Dead { error: e.message },
        Err(e) => {
            let wait = backoff(dp, attempts, rand::random::<f64>());
            Outcome::Retry {
                at: now + wait.num_microseconds().unwrap_or(i64::MAX / 4),
                error: e.message,
            }
        }
    };
    if let (
        Outcome::Sent {
            digest_key: Some(key),
        },
        Some((_, held)),
    ) = (&outcome, &digest)
    {
        let ids: Vec<i64> = held.iter().map(|h| h.id).collect();
        let mut outboxes: Vec<i64> = held.iter().map(|h| h.outbox_id).collect();
        outboxes.sort_unstable();
        outboxes.dedup();
        let (owner, key, pol) = (owner.to_string(), key.clone(), pol.clone());
        return p
            .store
            .write(move |c| {
                Box::pin(async move {
                    st::mark_digested(c, &ids, &owner, &key, now).await?;
                    for o in outboxes {
                        finalize(c, &pol, o, now).await?;
                    }
                    Ok(())
                })
            })
            .await
            .map(|()| None);
    }
    Ok(Some((d, outcome, now)))
}

async fn record(
    p: &Platform,
    pol: &Arc<ActivePolicy>,
    owner: &str,
    d: &Delivery,
    outcome: Outcome,
    now: i64,
) -> StoreResult<()> {
    let (id, outbox, owner, pol) = (d.id, d.outbox_id, owner.to_string(), pol.clone());
    p.store
        .write(move |c| {
            Box::pin(async move {
                if st::record_delivery(c, id, &owner, &outcome, now).await? {
                    finalize(c, &pol, outbox, now).await?;
                }
                Ok(())
            })
        })
        .await
}

/// Runs the worker until `stop` turns true: expansion and delivery as two loops, so one batch is sent while
/// the next is expanded.
pub async fn run(
    p: Platform,
    ch: Arc<Channels>,
    owner: String,
    stop: tokio::sync::watch::Receiver<bool>,
) {
    // Its own task, so the two stages can run on both cores.
    let expander = {
        let (p, ch, owner, stop) = (p.clone(), ch.clone(), owner.clone(), stop.clone());
        tokio::spawn(async move {
            stage(stop, "expand", || expand_batch(&p, &ch, &owner, 200)).await;
        })
    };
    stage(stop, "deliver", || deliver_batch(&p, &ch, &owner, 200)).await;
    if let Err(e) = expander.await {
        tracing::error!(error = %e, "notification expansion stage ended abnormally");
    }
}

/// Repeats `step` while it finds work, sleeping briefly when idle, until `stop` turns true.
async fn stage<F, Fut>(mut stop: tokio::sync::watch::Receiver<bool>, name: &str, mut step: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = StoreResult<usize>>,
{
    loop {
        match step().await {
            Ok(n) if n > 0 => {
                if *stop.borrow() {
                    return;
                }
                continue;
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(stage = name, error = %e, "notification worker step failed"),
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(200)) => {}
            _ = stop.changed() => return,
        }
        if *stop.borrow() {
            return;
        }
    }
}
