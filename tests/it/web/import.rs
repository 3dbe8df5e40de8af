//! Importing through the page: a dry-run preview that writes nothing, the confirmation that
//! applies the same document and turns the cached pages over, the size limit and the token;
//! the same for a file uploaded as a multipart form, and its format by extension.

use super::editing::post_form;
use super::forms::{client, get_with_session, hidden, sign_in};
use crate::support::{TestApp, TestDb, backend_tests, example, spawn, spawn_with, test_config};
use reqwest::multipart::{Form, Part};
use serde_json::Value;

async fn metric_count(app: &TestApp, token: &str) -> u64 {
    let body: Value = app.get("/api/v1/metrics", token).await.json().await.unwrap();
    body["pagination"]["total"]
        .as_u64()
        .unwrap_or_else(|| body["data"].as_array().map_or(0, |a| a.len() as u64))
}

/// The confirm form's hidden document, as the browser would send it back.
fn carried_document(html: &str) -> String {
    hidden(html, "document")
        .replace("&#10;", "\n")
        .replace("&quot;", "\"")
        .replace("&#34;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&#60;", "<")
        .replace("&#62;", ">")
        .replace("&gt;", ">")
        .replace("&#38;", "&")
        .replace("&amp;", "&")
}

/// Posts the form as the page sends it with a file picked: multipart, the text fields, then
/// the file under `name`.
async fn upload(
    app: &TestApp,
    path: &str,
    session: &str,
    fields: &[(&str, &str)],
    file: (&str, &[u8]),
) -> reqwest::Response {
    let mut form = Form::new();
    for (k, v) in fields {
        form = form.text(k.to_string(), v.to_string());
    }
    let (name, bytes) = file;
    form = form.part("file", Part::bytes(bytes.to_vec()).file_name(name.to_string()));
    client()
        .post(app.url(path))
        .header("cookie", format!("mdl_session={session}"))
        .multipart(form)
        .send()
        .await
        .unwrap()
}

async fn editor(app: &TestApp, db: &TestDb) -> (String, String) {
    app.user(db, "eddie", "editor").await;
    let session = sign_in(app, "eddie", "eddie-password-123").await;
    let r = get_with_session(app, "/import", &session).await;
    assert_eq!(r.status(), 200);
    let csrf = hidden(&r.text().await.unwrap(), "csrf");
    (session, csrf)
}

async fn a_preview_writes_nothing_and_the_confirmation_applies_it(db: &TestDb) {
    let app = spawn(db, false).await;
    let token = app.token().await;
    let (session, csrf) = editor(&app, db).await;
    // The catalog page is cached while empty.
    for _ in 0..2 {
        get_with_session(&app, "/", &session).await;
    }
    let document = example("sample-metrics.json");

    let r = post_form(
        &app,
        "/import/preview",
        &session,
        &[("csrf", &csrf), ("format", "json"), ("document", &document)],
    )
    .await;
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    assert!(html.contains("<th scope=\"row\">metrics</th><td>12</td>"), "{html}");
    assert_eq!(metric_count(&app, &token).await, 0, "a dry run");

    // The confirm form carries the same document back.
    let carried = carried_document(&html);
    assert_eq!(carried.trim_end(), document.trim_end());
    let r = post_form(
        &app,
        "/import",
        &session,
        &[("csrf", &csrf), ("format", "json"), ("document", &document)],
    )
    .await;
    assert_eq!(r.status(), 303);
    let done = r.headers()["location"].to_str().unwrap().to_string();
    assert!(
        done.starts_with("/import?created=") && done.ends_with("&updated=0&unchanged=0"),
        "{done}"
    );
    assert_eq!(metric_count(&app, &token).await, 12);
    let done = get_with_session(&app, &done, &session).await;
    assert!(done.text().await.unwrap().contains("The import was applied"));
    let catalog = get_with_session(&app, "/", &session).await.text().await.unwrap();
    assert!(
        catalog.contains("METRIC-LOGIN-SUCCESS-RATE"),
        "the cached page turned over"
    );
}

async fn errors_are_listed_by_field_path_and_nothing_is_written(db: &TestDb) {
    let app = spawn(db, false).await;
    let token = app.token().await;
    let (session, csrf) = editor(&app, db).await;
    let document = r#"{"metrics": [{"metric_id": "METRIC-X", "name": "X", "tier": "Tier-9"}]}"#;
    for path in ["/import/preview", "/import"] {
        let r = post_form(
            &app,
            path,
            &session,
            &[("csrf", &csrf), ("format", "json"), ("document", document)],
        )
        .await;
        assert_eq!(r.status(), 400, "{path}");
        let html = r.text().await.unwrap();
        assert!(html.contains("<code class=\"path\">metrics[0]"), "{html}");
        assert!(html.contains("METRIC-X"), "the document is kept for fixing");
    }
    assert_eq!(metric_count(&app, &token).await, 0);
}

async fn oversized_documents_and_missing_tokens_are_refused(db: &TestDb) {
    let mut config = test_config();
    config.max_body_bytes = 2048;
    config.max_import_bytes = 2048;
    let app = spawn_with(db, config).await;
    let token = app.token().await;
    let (session, csrf) = editor(&app, db).await;
    let document = example("sample-metrics.json");
    assert!(document.len() > 2048);

    let r = post_form(
        &app,
        "/import/preview",
        &session,
        &[("csrf", &csrf), ("format", "json"), ("document", &document)],
    )
    .await;
    assert_eq!(r.status(), 413);
    let html = r.text().await.unwrap();
    assert!(html.contains("at most 2048 bytes"), "{html}");

    let small = r#"{"metrics": []}"#;
    let r = post_form(&app, "/import", &session, &[("format", "json"), ("document", small)]).await;
    assert_eq!(r.status(), 403, "no token");
    let r = post_form(
        &app,
        "/import/preview",
        &session,
        &[
            ("csrf", "0123456789abcdef0123456789abcdef"),
            ("format", "json"),
            ("document", small),
        ],
    )
    .await;
    assert_eq!(r.status(), 403, "wrong token");
    assert_eq!(metric_count(&app, &token).await, 0);

    // Viewers may not import.
    app.user(db, "vera", "viewer").await;
    let vera = sign_in(&app, "vera", "vera-password-123").await;
    assert_eq!(get_with_session(&app, "/import", &vera).await.status(), 403);
}

async fn an_uploaded_file_is_previewed_then_confirmed(db: &TestDb) {
    let app = spawn(db, false).await;
    let token = app.token().await;
    let (session, csrf) = editor(&app, db).await;
    let document = example("sample-metrics.json");

    // The file wins over whatever is in the text area.
    let r = upload(
        &app,
        "/import/preview",
        &session,
        &[("csrf", &csrf), ("format", "detect"), ("document", "not a catalog")],
        ("sample-metrics.json", document.as_bytes()),
    )
    .await;
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    assert!(html.contains("<th scope=\"row\">metrics</th><td>12</td>"), "{html}");
    assert_eq!(metric_count(&app, &token).await, 0, "a dry run");

    // The confirmation is the ordinary form, carrying the file's text.
    let carried = carried_document(&html);
    assert_eq!(carried.trim_end(), document.trim_end());
    let format = hidden(&html, "format");
    assert_eq!(format, "json");
    let r = post_form(
        &app,
        "/import",
        &session,
        &[("csrf", &csrf), ("format", &format), ("document", &carried)],
    )
    .await;
    assert_eq!(r.status(), 303);
    assert_eq!(metric_count(&app, &token).await, 12);
}

async fn an_upload_over_the_import_limit_is_refused(db: &TestDb) {
    let document = example("sample-metrics.json");
    let mut config = test_config();
    // The import limit, not the smaller general body limit, bounds the upload.
    config.max_body_bytes = 1024;
    config.max_import_bytes = document.len();
    let app = spawn_with(db, config).await;
    let token = app.token().await;
    let (session, csrf) = editor(&app, db).await;
    let fields = [("csrf", csrf.as_str()), ("format", "detect")];

    let r = upload(
        &app,
        "/import/preview",
        &session,
        &fields,
        ("fits.json", document.as_bytes()),
    )
    .await;
    assert_eq!(r.status(), 200, "exactly at the limit");

    let over = format!("{document} ");
    for path in ["/import/preview", "/import"] {
        let r = upload(&app, path, &session, &fields, ("over.json", over.as_bytes())).await;
        assert_eq!(r.status(), 413, "{path}");
        let html = r.text().await.unwrap();
        let limit = format!(
            "The file “over.json” is too large: an import may be at most {} bytes",
            document.len()
        );
        assert!(html.contains(&limit), "{html}");
        assert!(html.contains("id=\"import-refused\""), "{html}");
    }
    assert_eq!(metric_count(&app, &token).await, 0);
}

async fn a_multipart_form_without_its_token_is_refused(db: &TestDb) {
    let app = spawn(db, false).await;
    let token = app.token().await;
    let (session, csrf) = editor(&app, db).await;
    let small = ("small.json", br#"{"metrics": []}"#.as_slice());
    let document = example("sample-metrics.json");
    let sample = ("sample-metrics.json", document.as_bytes());

    let r = upload(&app, "/import", &session, &[("format", "json")], sample).await;
    assert_eq!(r.status(), 403, "no token");
    let wrong = [("csrf", "0123456789abcdef0123456789abcdef")];
    let r = upload(&app, "/import/preview", &session, &wrong, small).await;
    assert_eq!(r.status(), 403, "wrong token");
    let r = client()
        .post(app.url("/import"))
        .header("cookie", format!("mdl_session={session}"))
        .header("origin", "https://elsewhere.example")
        .multipart(Form::new().text("csrf", csrf.clone()).part(
            "file",
            Part::bytes(document.clone().into_bytes()).file_name("sample-metrics.json"),
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "another site, even with the token");
    assert_eq!(metric_count(&app, &token).await, 0);

    // The same form with its token goes through.
    let r = upload(&app, "/import", &session, &[("csrf", &csrf)], sample).await;
    assert_eq!(r.status(), 303);
    assert_eq!(metric_count(&app, &token).await, 12);
}

async fn a_yaml_file_is_read_by_its_extension(db: &TestDb) {
    let app = spawn(db, false).await;
    let (session, csrf) = editor(&app, db).await;
    let yaml = example("sample-metrics.yaml");

    for name in ["sample-metrics.yaml", "sample-metrics.yml"] {
        let r = upload(
            &app,
            "/import/preview",
            &session,
            &[("csrf", &csrf)],
            (name, yaml.as_bytes()),
        )
        .await;
        assert_eq!(r.status(), 200, "{name}");
        let html = r.text().await.unwrap();
        assert!(html.contains("<th scope=\"row\">metrics</th><td>5</td>"), "{html}");
        assert_eq!(hidden(&html, "format"), "yaml", "{name}");
    }
    // The extension is believed over the text, and the chosen format over the extension.
    let misnamed = ("catalog.json", yaml.as_bytes());
    let detect = [("csrf", csrf.as_str()), ("format", "detect")];
    let r = upload(&app, "/import/preview", &session, &detect, misnamed).await;
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("invalid JSON"));
    let chosen = [("csrf", csrf.as_str()), ("format", "yaml")];
    let r = upload(&app, "/import/preview", &session, &chosen, misnamed).await;
    assert_eq!(r.status(), 200);
}

backend_tests!(
    an_uploaded_file_is_previewed_then_confirmed,
    an_upload_over_the_import_limit_is_refused,
    a_multipart_form_without_its_token_is_refused,
    a_yaml_file_is_read_by_its_extension,
    a_preview_writes_nothing_and_the_confirmation_applies_it,
    errors_are_listed_by_field_path_and_nothing_is_written,
    oversized_documents_and_missing_tokens_are_refused,
);
