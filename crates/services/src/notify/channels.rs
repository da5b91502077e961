//! Delivery channels: e-mail over SMTP (lettre), SMS through a configurable HTTP gateway, and IM group webhooks
//! (WeCom, DingTalk, Feishu, Slack). Every send carries the delivery key (Message-ID / `Idempotency-Key`) so a
//! receiver can drop the one re-send a crash between sending and recording can cause.

use std::fmt;
use std::time::Duration;

use lettre::message::{header::ContentType, Mailbox};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use serde::{Deserialize, Serialize};

/// A secret value: shown as `***` in Debug output and never logged.
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value.
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }

    /// The value, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// SMTP settings.
#[derive(Debug, Clone)]
pub struct SmtpConfig {
    pub host: String,
    pub port: u16,
    /// Upgrade with STARTTLS (required when true); false sends in clear (loopback relays only).
    pub starttls: bool,
    pub username: Option<String>,
    pub password: Option<Secret>,
    /// Sender address, e.g. `天枢 <noreply@example.com>`.
    pub from: String,
    pub timeout: Duration,
}

/// SMS HTTP gateway settings.
#[derive(Debug, Clone)]
pub struct SmsGatewayConfig {
    /// HTTP method (`POST`, `GET`, `PUT`).
    pub method: String,
    /// URL; may use `{{ mobile }}`, `{{ text }}` (URL-encoded with `| urlencode`) and `{{ key }}`.
    pub url: String,
    /// Extra headers (e.g. an API key); values are secrets.
    pub headers: Vec<(String, Secret)>,
    /// Body template with `mobile`, `text`, `key` (use `| tojson` for JSON strings); empty = no body.
    pub body_template: String,
    /// Content type of the body.
    pub content_type: String,
    /// Statuses that count as accepted; empty = any 2xx.
    pub success_status: Vec<u16>,
    /// JSON pointer (e.g. `/code`) whose value must equal `success_json_value` (compared as text).
    pub success_json_pointer: Option<String>,
    pub success_json_value: Option<String>,
    /// Regex the response body must match.
    pub success_regex: Option<String>,
    pub timeout: Duration,
}

/// IM webhook payload shapes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ImKind {
    Wecom,
    Dingtalk,
    Feishu,
    Slack,
}

/// One named IM webhook (an address `im:<name>` sends to it).
#[derive(Debug, Clone)]
pub struct ImWebhook {
    pub name: String,
    pub kind: ImKind,
    /// The webhook URL carries the bot's token, so it is a secret.
    pub url: Secret,
}

/// Every configured channel.
#[derive(Debug, Clone, Default)]
pub struct ChannelConfig {
    pub smtp: Option<SmtpConfig>,
    pub sms: Option<SmsGatewayConfig>,
    pub im: Vec<ImWebhook>,
    /// The `log` channel: every channel without a real peer above (and IM to any name) is "delivered" by
    /// writing one line to the server log — the masked address and the subject, never the body — and
    /// recorded as sent. For the demo and offline trials; a real peer always wins.
    pub log: bool,
}

impl ChannelConfig {
    /// True when no real peer is configured (no SMTP, SMS gateway or IM webhook).
    pub fn has_no_peer(&self) -> bool {
        self.smtp.is_none() && self.sms.is_none() && self.im.is_empty()
    }
}

/// Why a send failed; `permanent` failures are not retried.
#[derive(Debug, Clone)]
pub struct SendError {
    pub message: String,
    pub permanent: bool,
}

impl SendError {
    fn transient(m: impl Into<String>) -> Self {
        SendError {
            message: m.into(),
            permanent: false,
        }
    }
    fn permanent(m: impl Into<String>) -> Self {
        SendError {
            message: m.into(),
            permanent: true,
        }
    }
}

/// One rendered message to one address.
#[derive(Debug, Clone)]
pub struct Outgoing<'a> {
    pub channel: &'a str,
    pub address: &'a str,
    pub name: &'a str,
    pub subject: &'a str,
    pub body: &'a str,
    pub key: &'a str,
}

/// The live senders built from [`ChannelConfig`].
pub struct Channels {
    config: ChannelConfig,
    smtp: Option<AsyncSmtpTransport<Tokio1Executor>>,
    http: reqwest::Client,
    sms_ok: Option<regex_lite::Regex>,
}

impl fmt::Debug for Channels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Channels")
            .field("config", &self.config)
            .finish()
    }
}

impl Channels {
    /// Builds the senders; a bad regex or SMTP host is a configuration error naming the field.
    pub fn build(config: ChannelConfig) -> Result<Channels, String> {
        let smtp = match &config.smtp {
            None => None,
            Some(s) => {
                let b = if s.starttls {
                    AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&s.host)
                        .map_err(|e| format!("notify.smtp.host: {e}"))?
                } else {
                    AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&s.host)
                };
                let mut b = b.port(s.port).timeout(Some(s.timeout));
                if let (Some(u), Some(p)) = (&s.username, &s.password) {
                    b = b.credentials(Credentials::new(u.clone(), p.expose().to_string()));
                }
                Some(b.build())
            }
        };
        let sms_ok = match config.sms.as_ref().and_then(|s| s.success_regex.as_ref()) {
            Some(r) => Some(
                regex_lite::Regex::new(r).map_err(|e| format!("notify.sms.success_regex: {e}"))?,
            ),
            None => None,
        };
        if let Some(s) = &config.sms {
            for (field, text) in [("url", &s.url), ("body_template", &s.body_template)] {
                crate::notify::gateway_env()
                    .template_from_str(text)
                    .map_err(|e| format!("notify.sms.{field}: {e}"))?;
            }
        }
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .pool_max_idle_per_host(64)
            .build()
            .map_err(|e| format!("http client: {e}"))?;
        Ok(Channels {
            config,
            smtp,
            http,
            sms_ok,
        })
    }

    /// Whether messages can go out on `channel` to `address` (an IM address names a configured webhook).
    pub fn supports(&self, channel: &str, address: &str) -> bool {
        self.has_peer(channel, address)
            || (self.config.log && matches!(channel, "email" | "sms" | "im"))
    }

    fn has_peer(&self, channel: &str, address: &str) -> bool {
        match channel {
            "email" => self.smtp.is_some(),
            "sms" => self.config.sms.is_some(),
            "im" => self.config.im.iter().any(|w| w.name == address),
            _ => false,
        }
    }

    /// Where a message on `channel` to `address` would go: `smtp`, `sms_gateway`, `im_webhook`, `log`, or
    /// `None` when nothing can carry it.
    pub fn route_of(&self, channel: &str, address: &str) -> Option<&'static str> {
        if self.has_peer(channel, address) {
            Some(match channel {
                "email" => "smtp",
                "sms" => "sms_gateway",
                _ => "im_webhook",
            })
        } else if self.supports(channel, address) {
            Some("log")
        } else {
            None
        }
    }

    /// Sends one message.
    pub async fn send(&self, m: &Outgoing<'_>) -> Result<(), SendError> {
        if self.config.log && !self.has_peer(m.channel, m.address) {
            return self.send_log(m);
        }
        match m.channel {
            "email" => self.send_email(m).await,
            "sms" => self.send_sms(m).await,
            "im" => self.send_im(m).await,
            other => Err(SendError::permanent(format!("unknown channel '{other}'"))),
        }
    }

    /// The `log` channel: one server-log line with the masked address and the subject (personal data and
    /// message bodies stay out of the log).
    fn send_log(&self, m: &Outgoing<'_>) -> Result<(), SendError> {
        if !matches!(m.channel, "email" | "sms" | "im") {
            return Err(SendError::permanent(format!(
                "unknown channel '{}'",
                m.channel
            )));
        }
        tracing::info!(
            target: "tianshu::notify::log_channel",
            channel = m.channel,
            to = %crate::notify::mask_address(m.channel, m.address),
            subject = m.subject,
            key = m.key,
            "notification delivered to the log channel"
        );
        Ok(())
    }

    async fn send_email(&self, m: &Outgoing<'_>) -> Result<(), SendError> {
        let (Some(t), Some(cfg)) = (&self.smtp, &self.config.smtp) else {
            return Err(SendError::permanent("e-mail channel not configured"));
        };
        let from: Mailbox = cfg
            .from
            .parse()
            .map_err(|e| SendError::permanent(format!("notify.smtp.from: {e}")))?;
        let to: Mailbox = format!("{} <{}>", m.name.replace(['<', '>', '"'], ""), m.address)
            .parse()
            .or_else(|_| m.address.parse())
            .map_err(|e| SendError::permanent(format!("bad e-mail address: {e}")))?;
        let msg = lettre::Message::builder()
            .from(from)
            .to(to)
            .subject(m.subject)
            // The delivery key as Message-ID lets the receiving side drop a re-send; hex keeps it a valid msg-id
            // whatever the key holds (':' and '@' are not allowed there).
            .message_id(Some(message_id(m.key)))
            .header(ContentType::TEXT_PLAIN)
            .body(m.body.to_string())
            .map_err(|e| SendError::permanent(format!("cannot build e-mail: {e}")))?;
        t.send(msg).await.map(|_| ()).map_err(|e| {
            if e.is_permanent() {
                SendError::permanent(format!("smtp: {e}"))
            } else {
                SendError::transient(format!("smtp: {e}"))
            }
        })
    }

    async fn send_sms(&self, m: &Outgoing<'_>) -> Result<(), SendError> {
        let Some(cfg) = &self.config.sms else {
            return Err(SendError::permanent("SMS gateway not configured"));
        };
        let vars = serde_json::json!({"mobile": m.address, "text": m.body, "key": m.key});
        let env = crate::notify::gateway_env();
        let render = |t: &str| {
            env.render_str(t, &vars)
                .map_err(|e| SendError::permanent(format!("sms template: {e}")))
        };
        let url = render(&cfg.url)?;
        let method = reqwest::Method::from_bytes(cfg.method.to_ascii_uppercase().as_bytes())
            .map_err(|_| SendError::permanent("notify.sms.method: not an HTTP method"))?;
        let mut req = self
            .http
            .request(method, &url)
            .timeout(cfg.timeout)
            .header("Idempotency-Key", m.key);
        for (k, v) in &cfg.headers {
            req = req.header(k.as_str(), v.expose());
        }
        if !cfg.body_template.is_empty() {
            req = req
                .header("content-type", cfg.content_type.as_str())
                .body(render(&cfg.body_template)?);
        }
        let resp = req
            .send()
            .await
            // Never echo the URL: gateways put credentials in it.
            .map_err(|e| {
                SendError::transient(format!("sms gateway unreachable: {}", e.without_url()))
            })?;
        let status = resp.status();
        let body = resp.text().await.unwrap_or_default();
        let status_ok = if cfg.success_status.is_empty() {
            status.is_success()
        } else {
            cfg.success_status.contains(&status.as_u16())
        };
        if !status_ok {
            let msg = format!("sms gateway answered HTTP {}", status.as_u16());
            // 4xx other than 408/429 will not get better by retrying.
            return Err(
                if status.is_client_error() && status.as_u16() != 408 && status.as_u16() != 429 {
                    SendError::permanent(msg)
                } else {
                    SendError::transient(msg)
                },
            );
        }
        if let (Some(ptr), Some(want)) = (&cfg.success_json_pointer, &cfg.success_json_value) {
            let got = serde_json::from_str::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v.pointer(ptr).cloned())
                .map(|v| match v {
                    serde_json::Value::String(s) => s,
                    other => other.to_string(),
                });
            if got.as_deref() != Some(want.as_str()) {
                return Err(SendError::transient(format!(
                    "sms gateway refused: {ptr} = {}",
                    got.unwrap_or_else(|| "(absent)".into())
                )));
            }
        }
        if let Some(re) = &self.sms_ok {
            if !re.is_match(&body) {
                return Err(SendError::transient(
                    "sms gateway response does not match success_regex",
                ));
            }
        }
        Ok(())
    }

    async fn send_im(&self, m: &Outgoing<'_>) -> Result<(), SendError> {
        let Some(w) = self.config.im.iter().find(|w| w.name == m.address) else {
            return Err(SendError::permanent(format!(
                "no IM webhook named '{}'",
                m.address
            )));
        };
        let text = format!("{}\n{}", m.subject, m.body);
        let payload = im_payload(w.kind, &text);
        let resp = self
            .http
            .post(w.url.expose())
            .header("Idempotency-Key", m.key)
            .json(&payload)
            .send()
            .await
            .map_err(|e| {
                SendError::transient(format!("IM webhook unreachable: {}", e.without_url()))
            })?;
        let status = resp.status();
        let body = resp.text().await.unwrap_or_default();
        if !status.is_success() {
            return Err(SendError::transient(format!(
                "IM webhook answered HTTP {}",
                status.as_u16()
            )));
        }
        // WeCom / DingTalk answer {"errcode": 0}, Feishu {"code": 0}; anything else non-zero is a refusal.
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(&body) {
            for k in ["errcode", "code", "StatusCode"] {
                if let Some(c) = v.get(k).and_then(serde_json::Value::as_i64) {
                    if c != 0 {
                        return Err(SendError::transient(format!(
                            "IM webhook refused: {k} = {c}"
                        )));
                    }
                }
            }
        }
        Ok(())
    }
}

/// The Message-ID carrying a delivery key.
pub fn message_id(key: &str) -> String {
    format!("<{}@tianshu.invalid>", hex::encode(key))
}

/// The JSON body each IM platform's group webhook expects for a plain-text message.
pub fn im_payload(kind: ImKind, text: &str) -> serde_json::Value {
    use serde_json::json;
    match kind {
        ImKind::Wecom | ImKind::Dingtalk => json!({"msgtype": "text", "text": {"content": text}}),
        ImKind::Feishu => json!({"msg_type": "text", "content": {"text": text}}),
        ImKind::Slack => json!({"text": text}),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_redacted_in_debug_output() {
        let c = ImWebhook {
            name: "ops".into(),
            kind: ImKind::Wecom,
            url: Secret::new("https://example.invalid/hook?key=TOPSECRET"),
        };
        let shown = format!("{c:?}");
        assert!(!shown.contains("TOPSECRET"), "{shown}");
        assert!(shown.contains("***"));
    }

    #[tokio::test]
    async fn the_log_channel_carries_every_channel_without_a_peer() {
        let ch = Channels::build(ChannelConfig {
            log: true,
            ..Default::default()
        })
        .unwrap();
        for c in ["sms", "email", "im"] {
            assert!(ch.supports(c, "x"), "{c}");
            assert_eq!(ch.route_of(c, "x"), Some("log"));
        }
        assert!(!ch.supports("fax", "x"));
        let m = Outgoing {
            channel: "sms",
            address: "13800000001",
            name: "演示",
            subject: "s",
            body: "b",
            key: "1:user:1:sms",
        };
        assert!(ch.send(&m).await.is_ok());
        let none = Channels::build(ChannelConfig::default()).unwrap();
        assert!(!none.supports("sms", "13800000001"));
        assert_eq!(none.route_of("sms", "13800000001"), None);
    }

    #[test]
    fn im_payload_shapes_follow_each_platform() {
        assert_eq!(im_payload(ImKind::Wecom, "x")["text"]["content"], "x");
        assert_eq!(im_payload(ImKind::Dingtalk, "x")["msgtype"], "text");
        assert_eq!(im_payload(ImKind::Feishu, "x")["content"]["text"], "x");
        assert_eq!(im_payload(ImKind::Slack, "x")["text"], "x");
    }
}
