//! Business domains: the areas metrics belong to.

use super::errors::ValidationErrors;
use super::metric::TIERS;
use super::parse::{FieldReader, client_document, unknown_top_level};
use serde_json::{Map, Value};

const KNOWN: &[&str] = &[
    "domain_id",
    "name",
    "description",
    "owner_team",
    "contact_email",
    "tier_focus",
    "key_areas",
    "color",
];

/// A validated business domain; `doc` keeps every field sent (template extras included).
#[derive(Debug, Clone)]
pub struct BusinessDomain {
    pub domain_id: String,
    pub name: String,
    pub owner_team: Option<String>,
    pub doc: Map<String, Value>,
    pub unknown_fields: Vec<String>,
}

impl BusinessDomain {
    pub fn parse(value: Value) -> Result<Self, ValidationErrors> {
        let (doc, nul_errors) = client_document(value)?;
        let mut r = FieldReader::new(&doc);
        let domain_id = r.required_id("domain_id");
        let name = r.required_str("name", 200);
        r.optional_str("description", 10_000);
        let owner_team = r.optional_str("owner_team", 200);
        if let Some(email) = r.optional_str("contact_email", 254)
            && super::user::normalise_email(&email).is_err()
        {
            r.errors.add("contact_email", "must be an email address");
        }
        for (i, tier) in r.string_list("tier_focus", 3, 10).iter().enumerate() {
            if !TIERS.contains(&tier.as_str()) {
                r.errors.add(
                    format!("tier_focus[{i}]"),
                    format!("must be one of {}", TIERS.join(", ")),
                );
            }
        }
        r.string_list("key_areas", 100, 200);
        if let Some(color) = r.optional_str("color", 7)
            && !is_hex_color(&color)
        {
            r.errors.add("color", "must be a hex colour like #1f77b4");
        }
        let mut errors = nul_errors;
        errors.absorb("", std::mem::take(&mut r.errors));
        let unknown_fields = unknown_top_level(&doc, KNOWN);
        errors.into_result(())?;
        Ok(Self {
            domain_id,
            name,
            owner_team,
            doc,
            unknown_fields,
        })
    }
}

fn is_hex_color(s: &str) -> bool {
    let hex = s.strip_prefix('#').unwrap_or("");
    (hex.len() == 6 || hex.len() == 3) && hex.bytes().all(|b| b.is_ascii_hexdigit())
}
