//! `GET/POST /login` and `POST /logout`: the API's users, password gate and login limiter
//! behind a form and a session cookie.

use super::csrf::{self, LOGIN_COOKIE};
use super::error::WebError;
use super::links;
use super::pages::{Chrome, LoginPage, html};
use super::session::{self, SESSION_COOKIE, Visitor};
use crate::domain::user::{MAX_PASSWORD_LEN, UserStatus, normalise_username};
use crate::http::AppState;
use crate::http::client::ClientAddr;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use std::collections::HashMap;

/// How long a sign-in form stays usable.
const LOGIN_FORM_TTL_S: u64 = 3600;

#[derive(Deserialize)]
pub struct Next {
    next: Option<String>,
}

/// The form's fields; anything else in the body is ignored.
fn fields(body: &[u8]) -> HashMap<String, String> {
    form_urlencoded::parse(body).into_owned().collect()
}

fn login_page(visitor: &Visitor, csrf: String, next: &str, username: &str, error: Option<String>) -> LoginPage {
    let mut chrome = Chrome::new("Sign in", visitor);
    chrome.sign_in_link = false;
    LoginPage {
        chrome,
        csrf,
        next: links::local_path(next).to_string(),
        username: username.to_string(),
        error,
    }
}

/// The page with its form. The nonce cookie is kept across reloads so that two open sign-in
/// tabs both work.
pub async fn form(visitor: Visitor, headers: HeaderMap, Query(q): Query<Next>) -> Result<Response, WebError> {
    let next = links::local_path(q.next.as_deref().unwrap_or("/")).to_string();
    if visitor.user.is_some() {
        return Ok(Redirect::to(&next).into_response());
    }
    let nonce = match session::cookie(&headers, LOGIN_COOKIE) {
        Some(n) if n.len() == 32 => n.to_string(),
        _ => crate::auth::password::random_hex(16).map_err(WebError::Internal)?,
    };
    let page = login_page(&visitor, csrf::login_token(&nonce), &next, "", None);
    let mut response = html(StatusCode::OK, &page);
    response.headers_mut().append(
        header::SET_COOKIE,
        session::set_cookie(LOGIN_COOKIE, &nonce, "/login", LOGIN_FORM_TTL_S, visitor.tls),
    );
    Ok(response)
}

pub async fn submit(
    State(state): State<AppState>,
    client: ClientAddr,
    visitor: Visitor,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, WebError> {
    csrf::check_origin(&headers)?;
    let form = fields(&body);
    let get = |k: &str| form.get(k).map(String::as_str).unwrap_or_default();
    let nonce = session::cookie(&headers, LOGIN_COOKIE)
        .ok_or_else(|| WebError::Forbidden("This sign-in form has expired: reload the page and try again.".into()))?;
    if !csrf::same(get("csrf"), &csrf::login_token(nonce)) {
        return Err(WebError::Forbidden(
            "This sign-in form has expired: reload the page and try again.".into(),
        ));
    }
    let next = links::local_path(get("next")).to_string();
    let refused = |message: &str| -> Result<Response, WebError> {
        let page = login_page(
            &visitor,
            csrf::login_token(nonce),
            &next,
            get("username"),
            Some(message.to_string()),
        );
        Ok(html(StatusCode::UNAUTHORIZED, &page))
    };
    // Same order as the API's login: nothing reaches a table or the hasher that no account
    // could match.
    let Ok(username) = normalise_username(get("username")) else {
        return refused("Wrong username or password.");
    };
    let password = get("password");
    if password.len() > 4 * MAX_PASSWORD_LEN {
        return refused("Wrong username or password.");
    }
    state.login_limiter.check_login(client.ip, &username)?;
    let (user, hash) = match state.store.find_user(&username).await? {
        Some((user, hash)) => (Some(user), Some(hash)),
        None => (None, None),
    };
    let matches = state.passwords.verify(password.to_string(), hash).await?;
    let Some(user) = user.filter(|_| matches) else {
        state.login_limiter.record_failure(&username);
        return refused("Wrong username or password.");
    };
    if user.status != UserStatus::Active {
        return refused(&format!("This account is {}.", user.status.as_str()));
    }
    state.login_limiter.record_success(client.ip, &username);
    let token = session::start(&state, &user).await?;
    let mut response = Redirect::to(&next).into_response();
    let cookies = response.headers_mut();
    cookies.append(
        header::SET_COOKIE,
        session::set_cookie(
            SESSION_COOKIE,
            &token,
            "/",
            state.config.refresh_token_ttl_s,
            visitor.tls,
        ),
    );
    cookies.append(
        header::SET_COOKIE,
        session::clear_cookie(LOGIN_COOKIE, "/login", visitor.tls),
    );
    cookies.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// Ends the session on every instance (its row is revoked), then clears the cookie.
pub async fn logout(
    State(state): State<AppState>,
    visitor: Visitor,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, WebError> {
    csrf::check_origin(&headers)?;
    if let (Some(token), Some(user)) = (&visitor.session, &visitor.user) {
        let form = fields(&body);
        let sent = form.get("csrf").map(String::as_str).unwrap_or_default();
        if !csrf::same(sent, &csrf::session_token(token)) {
            return Err(WebError::Forbidden(
                "The sign-out form was missing its security token. Reload the page and try again.".into(),
            ));
        }
        session::end(&state, token, &user.user_id).await?;
    }
    let mut response = Redirect::to("/login").into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        session::clear_cookie(SESSION_COOKIE, "/", visitor.tls),
    );
    Ok(response)
}
