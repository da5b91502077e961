//! The server-rendered console (login and landing page for now; the full console is its own work).

use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::Form;
use serde::Deserialize;
use tianshu_services::authz::{AuthVia, Principal};
use tianshu_services::{secrets, session, ServiceError};

use crate::api::session::{clear_cookie, is_https, session_cookie};
use crate::extract::{cookie, SESSION_COOKIE};
use crate::state::AppState;

const STYLE: &str = r#"
:root{--fg:#1d2733;--muted:#5b6675;--accent:#0b5cad;--bg:#f4f6f9;--card:#fff;--bad:#b3261e}
*{box-sizing:border-box}body{margin:0;font:15px/1.5 system-ui,"PingFang SC","Microsoft YaHei","Noto Sans CJK SC",sans-serif;color:var(--fg);background:var(--bg)}
header{background:#12324f;color:#fff;padding:.6rem 1.2rem;display:flex;gap:1rem;align-items:center}
header h1{font-size:1.1rem;margin:0}header nav{margin-left:auto}header a,header button{color:#fff}
main{max-width:60rem;margin:2rem auto;padding:0 1rem}
.card{background:var(--card);border-radius:6px;padding:1.5rem;box-shadow:0 1px 3px rgba(0,0,0,.12)}
.login{max-width:24rem;margin:4rem auto}
label{display:block;margin:.8rem 0 .2rem;font-weight:600}
input{width:100%;padding:.5rem;border:1px solid #9aa5b1;border-radius:4px;font:inherit}
input:focus,button:focus,a:focus{outline:3px solid #f0b400;outline-offset:1px}
button{margin-top:1.2rem;padding:.55rem 1.2rem;background:var(--accent);color:#fff;border:0;border-radius:4px;font:inherit;cursor:pointer}
.err{color:var(--bad);font-weight:600}.muted{color:var(--muted)}
table{border-collapse:collapse;width:100%}td,th{text-align:left;padding:.3rem .5rem;border-bottom:1px solid #e1e5ea}
"#;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn page(title: &str, body: &str) -> Html<String> {
    Html(format!(
        "<!doctype html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width,initial-scale=1\"><title>{} · 天枢</title><style>{STYLE}</style></head><body>{body}</body></html>",
        esc(title)
    ))
}

fn login_page(error: Option<&str>, username: &str) -> Html<String> {
    let err = error
        .map(|e| {
            format!(
                "<p class=\"err\" role=\"alert\" id=\"login-error\">{}</p>",
                esc(e)
            )
        })
        .unwrap_or_default();
    page(
        "登录",
        &format!(
            "<main><div class=\"card login\"><h1>天枢 · 运维支撑平台</h1>{err}<form method=\"post\" action=\"/login\">\
             <label for=\"username\">用户名</label><input id=\"username\" name=\"username\" autocomplete=\"username\" required value=\"{}\" autofocus>\
             <label for=\"password\">密码</label><input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"current-password\" required>\
             <button type=\"submit\">登录</button></form></div></main>",
            esc(username)
        ),
    )
}

/// The login form.
pub async fn login_form() -> Html<String> {
    login_page(None, "")
}

/// Login form fields.
#[derive(Debug, Deserialize)]
pub struct LoginForm {
    pub username: String,
    pub password: String,
}

fn same_origin(headers: &HeaderMap) -> bool {
    // Login CSRF defence: a browser sends Origin on cross-site POSTs; it must name this host.
    match (
        headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()),
        headers.get(header::HOST).and_then(|v| v.to_str().ok()),
    ) {
        (Some(origin), Some(host)) => origin.split("://").nth(1) == Some(host),
        _ => true,
    }
}

/// Handles the login form.
pub async fn login_submit(
    State(st): State<AppState>,
    headers: HeaderMap,
    ConnectInfo(addr): ConnectInfo<std::net::SocketAddr>,
    Form(f): Form<LoginForm>,
) -> Response {
    if !same_origin(&headers) {
        return (
            StatusCode::FORBIDDEN,
            login_page(Some("请求来源不符，请重新打开登录页。"), ""),
        )
            .into_response();
    }
    if let Err(e) = session::rate_check(&st.platform, &format!("ip:{}", addr.ip())).await {
        return (
            StatusCode::TOO_MANY_REQUESTS,
            login_page(Some(&format!("请求过于频繁：{e}")), &f.username),
        )
            .into_response();
    }
    match session::login(&st.platform, &f.username, &f.password, None).await {
        Ok(s) => {
            let max_age = (s.expires_at - st.platform.now_us()) / 1_000_000;
            let mut r = Redirect::to("/").into_response();
            r.headers_mut().insert(
                header::SET_COOKIE,
                session_cookie(
                    &s.secret,
                    max_age,
                    is_https(&headers, st.config.secure_cookies),
                ),
            );
            r
        }
        Err(ServiceError::BadCredentials) => (
            StatusCode::UNAUTHORIZED,
            login_page(Some("用户名或密码错误。"), &f.username),
        )
            .into_response(),
        Err(ServiceError::Locked { .. }) => (
            StatusCode::TOO_MANY_REQUESTS,
            login_page(
                Some("登录失败次数过多，账户已暂时锁定，请稍后再试。"),
                &f.username,
            ),
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "console login failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                login_page(Some("服务暂时不可用，请稍后再试。"), &f.username),
            )
                .into_response()
        }
    }
}

async fn principal(st: &AppState, headers: &HeaderMap) -> Option<Principal> {
    let parts = {
        let mut req = axum::http::Request::new(());
        *req.headers_mut() = headers.clone();
        req.into_parts().0
    };
    let c = cookie(&parts, SESSION_COOKIE)?;
    session::authenticate_session(&st.platform, &c).await.ok()
}

/// The landing page after login.
pub async fn home(State(st): State<AppState>, headers: HeaderMap) -> Response {
    let Some(p) = principal(&st, &headers).await else {
        return Redirect::to("/login").into_response();
    };
    let csrf = match &p.via {
        AuthVia::Session { csrf, .. } => csrf.clone(),
        _ => String::new(),
    };
    let pol = st.platform.policy.current();
    let roles = p
        .roles
        .iter()
        .map(|r| esc(pol.pack.role(r).map(|x| x.name_zh.as_str()).unwrap_or(r)))
        .collect::<Vec<_>>()
        .join("、");
    let body = format!(
        "<header><h1>天枢 · 运维支撑平台</h1><nav><form method=\"post\" action=\"/logout\" style=\"display:inline\"><input type=\"hidden\" name=\"csrf\" value=\"{}\">\
         <span>{}</span> <button type=\"submit\">退出</button></form></nav></header>\
         <main><div class=\"card\"><h2>欢迎</h2><table><tr><th>用户</th><td id=\"me\">{}</td></tr><tr><th>角色</th><td>{}</td></tr>\
         <tr><th>策略包版本</th><td>{}</td></tr></table><p class=\"muted\">API 文档：<a href=\"/api/v1/openapi.json\">/api/v1/openapi.json</a></p></div></main>",
        esc(&csrf), esc(&p.username), esc(&p.username), roles, esc(&pol.pack.pack.version)
    );
    page("首页", &body).into_response()
}

/// Logout form fields.
#[derive(Debug, Deserialize)]
pub struct LogoutForm {
    pub csrf: String,
}

/// Ends the console session (CSRF-checked form post).
pub async fn logout(
    State(st): State<AppState>,
    headers: HeaderMap,
    Form(f): Form<LogoutForm>,
) -> Response {
    if let Some(p) = principal(&st, &headers).await {
        if let AuthVia::Session { csrf, .. } = &p.via {
            if !secrets::same(csrf, &f.csrf) {
                return (
                    StatusCode::FORBIDDEN,
                    page("错误", "<main><p class=\"err\">CSRF 校验失败。</p></main>"),
                )
                    .into_response();
            }
        }
        let _ = session::logout(&st.platform, &p).await;
    }
    let mut r = Redirect::to("/login").into_response();
    r.headers_mut().insert(header::SET_COOKIE, clear_cookie());
    r
}
