//! The HTTP stack's ceiling: a do-nothing axum server answering every request with the same
//! bytes (pre-compressed, as a cache hit would send them). Benchmarks compare MDL against it.
//!
//! `cargo bench --bench ceiling -- BODY_FILE [ADDR]` serves BODY_FILE on ADDR (default
//! 127.0.0.1:3999) until interrupted, with `Content-Encoding: gzip` when the file is gzip.

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::IntoResponse;
use bytes::Bytes;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1).filter(|a| a != "--bench");
    let file = args.next().expect("usage: ceiling BODY_FILE [ADDR]");
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:3999".into());
    let body = Bytes::from(std::fs::read(&file)?);
    let gzip = body.starts_with(&[0x1f, 0x8b]);
    let app = Router::new().fallback(move || {
        let body = body.clone();
        async move {
            let mut response = (
                [(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))],
                body,
            )
                .into_response();
            if gzip {
                response
                    .headers_mut()
                    .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            }
            response
        }
    });
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!(
        "ceiling server on http://{addr}, {} bytes per answer",
        std::fs::metadata(&file)?.len()
    );
    axum::serve(listener, app).await
}
