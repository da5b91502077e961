//! Console translations: Fluent `.ftl` files per locale, embedded in the binary; zh-CN is the default.

use std::collections::HashMap;
use std::sync::OnceLock;

use fluent_bundle::concurrent::FluentBundle;
use fluent_bundle::{FluentArgs, FluentResource, FluentValue};
use rust_embed::RustEmbed;

#[derive(RustEmbed)]
#[folder = "locales/"]
struct Locales;

/// Locales the console offers, default first.
pub const LOCALES: &[&str] = &["zh-CN", "en"];

struct Catalog {
    bundles: HashMap<&'static str, FluentBundle<FluentResource>>,
}

fn catalog() -> &'static Catalog {
    static C: OnceLock<Catalog> = OnceLock::new();
    C.get_or_init(|| {
        let mut bundles = HashMap::new();
        for &loc in LOCALES {
            let lang: unic_langid::LanguageIdentifier = loc.parse().unwrap_or_default();
            let mut b = FluentBundle::new_concurrent(vec![lang]);
            // No bidi isolation marks: the output is HTML, not mixed-direction text.
            b.set_use_isolating(false);
            if let Some(f) = Locales::get(&format!("{loc}/main.ftl")) {
                let text = String::from_utf8_lossy(&f.data).into_owned();
                let res = FluentResource::try_new(text).unwrap_or_else(|(r, errs)| {
                    tracing::error!(locale = loc, ?errs, "translation file has errors");
                    r
                });
                if let Err(errs) = b.add_resource(res) {
                    tracing::error!(locale = loc, ?errs, "duplicate translation keys");
                }
            }
            bundles.insert(loc, b);
        }
        Catalog { bundles }
    })
}

/// A locale resolved for one request; templates call `t.t("key")`.
#[derive(Debug, Clone, Copy)]
pub struct Tr {
    locale: &'static str,
}

impl Tr {
    /// The translator for a locale tag; unknown tags fall back to zh-CN.
    pub fn new(tag: &str) -> Tr {
        let locale = LOCALES
            .iter()
            .copied()
            .find(|l| l.eq_ignore_ascii_case(tag))
            .unwrap_or(LOCALES[0]);
        Tr { locale }
    }

    /// The BCP 47 tag (for `<html lang>`).
    pub fn lang(&self) -> &'static str {
        self.locale
    }

    /// The message for `key` (the key itself when missing, so gaps are visible, never fatal).
    pub fn t(&self, key: &str) -> String {
        self.format(key, None)
    }

    /// The message for `key` with one argument.
    pub fn t1(&self, key: &str, name: &str, value: &str) -> String {
        let mut args = FluentArgs::new();
        args.set(name.to_string(), FluentValue::from(value.to_string()));
        self.format(key, Some(&args))
    }

    /// The message for `key` with several arguments.
    pub fn t2(&self, key: &str, args: &[(&str, String)]) -> String {
        let mut a = FluentArgs::new();
        for (n, v) in args {
            a.set(n.to_string(), FluentValue::from(v.clone()));
        }
        self.format(key, Some(&a))
    }

    fn format(&self, key: &str, args: Option<&FluentArgs>) -> String {
        let cat = catalog();
        let Some(b) = cat.bundles.get(self.locale) else {
            return key.to_string();
        };
        let Some(pattern) = b.get_message(key).and_then(|m| m.value()) else {
            return key.to_string();
        };
        let mut errors = Vec::new();
        b.format_pattern(pattern, args, &mut errors).into_owned()
    }
}

/// Message keys of a locale (for the parity test).
pub fn keys(locale: &str) -> Vec<String> {
    Locales::get(&format!("{locale}/main.ftl"))
        .map(|f| {
            String::from_utf8_lossy(&f.data)
                .lines()
                .filter_map(|l| l.split_once(" = ").map(|(k, _)| k.trim().to_string()))
                .filter(|k| !k.is_empty() && !k.starts_with('#'))
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_exists_in_every_locale() {
        let zh = keys("zh-CN");
        assert!(zh.len() > 50);
        for loc in LOCALES {
            let k = keys(loc);
            for key in &zh {
                assert!(k.contains(key), "{loc} lacks {key}");
            }
            assert_eq!(k.len(), zh.len(), "{loc} has extra keys");
        }
    }

    /// A key defined twice is no error at run time: the bundle keeps the first and the newer text silently
    /// never shows (a cut-over form once showed a release form's label that way).
    #[test]
    fn no_locale_defines_a_key_twice_or_fails_to_parse() {
        for &loc in LOCALES {
            let f = Locales::get(&format!("{loc}/main.ftl")).expect("embedded locale");
            let text = String::from_utf8_lossy(&f.data).into_owned();
            let res = FluentResource::try_new(text)
                .unwrap_or_else(|(_, errs)| panic!("{loc}/main.ftl does not parse: {errs:?}"));
            let lang: unic_langid::LanguageIdentifier = loc.parse().unwrap();
            let mut b = FluentBundle::new_concurrent(vec![lang]);
            if let Err(errs) = b.add_resource(res) {
                panic!("{loc}/main.ftl defines keys twice: {errs:?}");
            }
        }
    }

    #[test]
    fn translates_with_arguments_and_falls_back() {
        assert_eq!(Tr::new("en").t("nav-users"), "Users");
        assert_eq!(Tr::new("zh-CN").t("nav-users"), "用户");
        assert_eq!(Tr::new("fr").lang(), "zh-CN");
        assert_eq!(
            Tr::new("en").t1("home-welcome", "name", "ops1"),
            "Welcome, ops1"
        );
        assert_eq!(Tr::new("en").t("no-such-key"), "no-such-key");
    }
}
