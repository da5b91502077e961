//! Layered configuration: defaults → config file → environment (`TIANSHU_*`) → flags.
//!
//! clap resolves flag-over-environment; the file fills what neither set; defaults fill the rest.

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The config file's shape; every key optional, unknown keys rejected.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub listen: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub database_url: Option<String>,
    /// PostgreSQL schema for Tianshu's tables.
    pub database_schema: Option<String>,
    pub policy_dir: Option<PathBuf>,
    pub log_level: Option<String>,
    pub log_format: Option<String>,
    pub secure_cookies: Option<bool>,
    /// Key file that encrypts stored database passwords; default `credentials.key` in the data directory.
    pub credentials_key_file: Option<PathBuf>,
    /// Notification channels (`[notify.smtp]`, `[notify.sms]`, `[[notify.im]]`).
    pub notify: Option<NotifyFile>,
}

/// `[notify]`: channel settings. Secrets are never written in the file itself: `*_env` names an environment
/// variable and `*_file` a file holding the value.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifyFile {
    pub smtp: Option<SmtpFile>,
    pub sms: Option<SmsFile>,
    #[serde(default)]
    pub im: Vec<ImFile>,
    /// Deliver what no real channel above carries to the server log (masked address and subject) and
    /// record it as sent. `tianshu demo` turns it on when no channel is configured.
    #[serde(default)]
    pub log: bool,
}

/// `[notify.smtp]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpFile {
    pub host: String,
    pub port: u16,
    #[serde(default = "yes")]
    pub starttls: bool,
    pub username: Option<String>,
    pub password_env: Option<String>,
    pub password_file: Option<PathBuf>,
    pub from: String,
    pub timeout_secs: Option<u64>,
}

fn yes() -> bool {
    true
}

/// `[notify.sms]`: the HTTP SMS gateway.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmsFile {
    #[serde(default = "post")]
    pub method: String,
    pub url: String,
    /// Header name → environment variable holding its (secret) value.
    #[serde(default)]
    pub headers_env: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    pub body_template: String,
    #[serde(default = "json_type")]
    pub content_type: String,
    #[serde(default)]
    pub success_status: Vec<u16>,
    pub success_json_pointer: Option<String>,
    pub success_json_value: Option<String>,
    pub success_regex: Option<String>,
    pub timeout_secs: Option<u64>,
}

fn post() -> String {
    "POST".into()
}

fn json_type() -> String {
    "application/json".into()
}

/// `[[notify.im]]`: a named group webhook.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImFile {
    pub name: String,
    pub kind: tianshu_services::notify::channels::ImKind,
    pub url_env: Option<String>,
    pub url_file: Option<PathBuf>,
}

fn secret(
    field: &str,
    env: Option<&str>,
    file: Option<&Path>,
) -> anyhow::Result<Option<tianshu_services::notify::channels::Secret>> {
    use tianshu_services::notify::channels::Secret;
    match (env, file) {
        (Some(_), Some(_)) => {
            anyhow::bail!("{field}: give either the _env or the _file form, not both")
        }
        (Some(v), None) => std::env::var(v)
            .map(|s| Some(Secret::new(s)))
            .map_err(|_| anyhow::anyhow!("{field}: environment variable {v} is not set")),
        (None, Some(f)) => std::fs::read_to_string(f)
            .map(|s| Some(Secret::new(s.trim_end_matches(['\r', '\n']))))
            .map_err(|e| anyhow::anyhow!("{field}: cannot read {}: {e}", f.display())),
        (None, None) => Ok(None),
    }
}

impl NotifyFile {
    /// The channel configuration, with secrets read from the environment or files.
    pub fn channels(&self) -> anyhow::Result<tianshu_services::notify::channels::ChannelConfig> {
        use std::time::Duration;
        use tianshu_services::notify::channels::*;
        let smtp = match &self.smtp {
            None => None,
            Some(s) => Some(SmtpConfig {
                host: s.host.clone(),
                port: s.port,
                starttls: s.starttls,
                username: s.username.clone(),
                password: secret(
                    "notify.smtp.password",
                    s.password_env.as_deref(),
                    s.password_file.as_deref(),
                )?,
                from: s.from.clone(),
                timeout: Duration::from_secs(s.timeout_secs.unwrap_or(15)),
            }),
        };
        let sms = match &self.sms {
            None => None,
            Some(s) => {
                let mut headers = Vec::new();
                for (h, v) in &s.headers_env {
                    let val = secret(&format!("notify.sms.headers_env.{h}"), Some(v), None)?
                        .unwrap_or_default();
                    headers.push((h.clone(), val));
                }
                Some(SmsGatewayConfig {
                    method: s.method.clone(),
                    url: s.url.clone(),
                    headers,
                    body_template: s.body_template.clone(),
                    content_type: s.content_type.clone(),
                    success_status: s.success_status.clone(),
                    success_json_pointer: s.success_json_pointer.clone(),
                    success_json_value: s.success_json_value.clone(),
                    success_regex: s.success_regex.clone(),
                    timeout: Duration::from_secs(s.timeout_secs.unwrap_or(10)),
                })
            }
        };
        let mut im = Vec::new();
        for (i, w) in self.im.iter().enumerate() {
            let url = secret(
                &format!("notify.im[{i}].url"),
                w.url_env.as_deref(),
                w.url_file.as_deref(),
            )?
            .ok_or_else(|| anyhow::anyhow!("notify.im[{i}]: give url_env or url_file"))?;
            im.push(ImWebhook {
                name: w.name.clone(),
                kind: w.kind,
                url,
            });
        }
        Ok(ChannelConfig {
            smtp,
            sms,
            im,
            log: self.log,
        })
    }
}

impl FileConfig {
    /// Reads and validates a config file; errors name `file:line: field: message`.
    pub fn load(path: &Path) -> anyhow::Result<FileConfig> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("{}: cannot read: {e}", path.display()))?;
        toml::from_str::<FileConfig>(&text).map_err(|e| {
            let line = e
                .span()
                .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
            let msg = e.message().to_string();
            let field = msg
                .split('`')
                .nth(1)
                .map(str::to_string)
                .unwrap_or_else(|| "(file)".into());
            match line {
                Some(l) => anyhow::anyhow!("{}:{l}:{field}: {msg}", path.display()),
                None => anyhow::anyhow!("{}:{field}: {msg}", path.display()),
            }
        })
    }
}

/// Settings after layering.
#[derive(Debug, Clone)]
pub struct Settings {
    pub listen: String,
    pub data_dir: PathBuf,
    pub database_url: Option<String>,
    pub database_schema: Option<String>,
    pub policy_dir: Option<PathBuf>,
    /// The credentials key file (see `tianshu_services::credentials`).
    pub credentials_key_file: PathBuf,
    pub secure_cookies: bool,
    pub channels: tianshu_services::notify::channels::ChannelConfig,
}

impl Settings {
    /// The database URL: explicit, or the SQLite file in the data directory.
    pub fn database_url(&self) -> String {
        self.database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", self.data_dir.join("tianshu.db").display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_config_names_file_line_and_field() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("tianshu.toml");
        std::fs::write(&p, "listen = \"127.0.0.1:1\"\n\nlisten_port = 3\n").unwrap();
        let e = FileConfig::load(&p).unwrap_err().to_string();
        assert!(e.contains("tianshu.toml:3:listen_port"), "{e}");
        std::fs::write(&p, "secure_cookies = \"yes\"\n").unwrap();
        let e = FileConfig::load(&p).unwrap_err().to_string();
        assert!(e.contains("tianshu.toml:1:"), "{e}");
    }
}
