//! What every operation of the OpenAPI document shares, added once after the routes are
//! collected: the security schemes and which operations need them, and the error answers any
//! route can give (400 for an unknown query parameter, 401 without credentials, 503 when the
//! database is unreachable or the request times out).

use super::schemas::ErrorEnvelope;
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{
    ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
};
use utoipa::openapi::{ContentBuilder, OpenApi, Ref, RefOr, ResponseBuilder};

pub const BEARER: &str = "bearer";
pub const API_KEY: &str = "X-API-Key";

/// Operations anyone may call: probes, Prometheus, and the routes that hand out or end sessions.
pub const PUBLIC: &[&str] = &[
    "/health",
    "/health/live",
    "/health/ready",
    "/metrics",
    "/api/v1/auth/login",
    "/api/v1/auth/refresh",
    "/api/v1/auth/logout",
];

#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "MDL: Metrics Definition Library",
        description = "Metric definitions, business domains, objectives and users.\n\n\
            Authenticate with `Authorization: Bearer <access_token>` (from `POST /api/v1/auth/login`) \
            or `X-API-Key: mdl_...`. Every success is `{\"success\": true, \"data\": ...}`, every \
            error `{\"success\": false, \"error\": {\"code\", \"message\", \"details\"}, \"request_id\"}`. \
            Unknown query parameters are refused (400)."
    ),
    components(schemas(ErrorEnvelope))
)]
pub struct ApiDoc;

/// The error envelope as a response of `description`.
fn error(description: &str) -> RefOr<utoipa::openapi::Response> {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("ErrorEnvelope")))
                .build(),
        )
        .build()
        .into()
}

fn add_error(op: &mut Operation, status: &str, description: &str) {
    op.responses
        .responses
        .entry(status.to_string())
        .or_insert_with(|| error(description));
}

/// Security schemes, per-operation security, and the shared error responses.
pub fn finish(mut spec: OpenApi) -> OpenApi {
    let components = spec.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        BEARER,
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .bearer_format("JWT")
                .description(Some("The `access_token` of `POST /api/v1/auth/login`."))
                .build(),
        ),
    );
    components.add_security_scheme(
        API_KEY,
        SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
            API_KEY,
            "An API key (`mdl_...`) from `POST /api/v1/api-keys`.",
        ))),
    );
    let either = vec![
        SecurityRequirement::new(BEARER, Vec::<String>::new()),
        SecurityRequirement::new(API_KEY, Vec::<String>::new()),
    ];
    for (path, item) in spec.paths.paths.iter_mut() {
        let public = PUBLIC.contains(&path.as_str());
        for op in [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
            &mut item.head,
        ]
        .into_iter()
        .flatten()
        {
            add_error(
                op,
                "400",
                "Invalid request: bad or unknown query parameter, invalid body",
            );
            if !public {
                op.security = Some(either.clone());
                add_error(op, "401", "No valid token or API key");
            }
            add_error(op, "503", "Database unavailable or request timed out (`Retry-After`)");
        }
    }
    spec
}
