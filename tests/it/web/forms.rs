//! Signing in over plain HTTP, as a browser would: fetch the form, keep its nonce cookie,
//! post the fields back.

use crate::support::TestApp;

/// A client that shows redirects instead of following them.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// The value of `name` in the response's `Set-Cookie` headers.
pub fn set_cookie(r: &reqwest::Response, name: &str) -> Option<(String, String)> {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(|line| {
            let value = line[name.len() + 1..].split(';').next().unwrap_or_default();
            (value.to_string(), line.to_string())
        })
}

/// The `value` of the hidden input named `name` in a page.
pub fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker).unwrap_or_else(|| panic!("no {name} field")) + marker.len();
    html[start..].split('"').next().unwrap().to_string()
}

pub fn urlencoded(pairs: &[(&str, &str)]) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    s.finish()
}

/// The sign-in form's nonce cookie and CSRF token.
pub async fn login_form(app: &TestApp) -> (String, String) {
    let r = client().get(app.url("/login")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let (nonce, _) = set_cookie(&r, "mdl_login").expect("nonce cookie");
    let csrf = hidden(&r.text().await.unwrap(), "csrf");
    (nonce, csrf)
}

/// Posts the sign-in form; returns the response (303 on success).
pub async fn post_login(app: &TestApp, username: &str, password: &str) -> reqwest::Response {
    let (nonce, csrf) = login_form(app).await;
    client()
        .post(app.url("/login"))
        .header("cookie", format!("mdl_login={nonce}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(urlencoded(&[
            ("csrf", &csrf),
            ("username", username),
            ("password", password),
            ("next", "/"),
        ]))
        .send()
        .await
        .unwrap()
}

/// Signs in and returns the session token.
pub async fn sign_in(app: &TestApp, username: &str, password: &str) -> String {
    let r = post_login(app, username, password).await;
    assert_eq!(r.status(), 303, "sign-in as {username} failed");
    set_cookie(&r, "mdl_session").expect("session cookie").0
}

pub async fn get_with_session(app: &TestApp, path: &str, session: &str) -> reqwest::Response {
    client()
        .get(app.url(path))
        .header("cookie", format!("mdl_session={session}"))
        .send()
        .await
        .unwrap()
}

/// The CSRF token of the sign-out form on a page.
pub async fn session_csrf(app: &TestApp, session: &str) -> String {
    let page = get_with_session(app, "/", session).await.text().await.unwrap();
    hidden(&page, "csrf")
}
