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
    pub policy_dir: Option<PathBuf>,
    pub log_level: Option<String>,
    pub log_format: Option<String>,
    pub secure_cookies: Option<bool>,
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
    pub policy_dir: Option<PathBuf>,
    pub secure_cookies: bool,
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
