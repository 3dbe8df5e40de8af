//! The query parameters of every route, as types. The OpenAPI parameters are generated from
//! these structs and the strict parser's allow-lists (`query::allowed`) are their `NAMES`, so
//! what is documented and what is accepted cannot drift apart.

use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

/// A query-parameter struct and the names it documents, in declaration order.
pub trait QueryParams: IntoParams {
    const NAMES: &'static [&'static str];
}

/// Declares a struct deriving `IntoParams` and its `QueryParams::NAMES` from the same field
/// list, so a documented parameter is always an accepted one and the reverse.
macro_rules! query_params {
    ($(#[$outer:meta])* pub struct $name:ident { $($(#[$meta:meta])* $field:ident: $ty:ty,)* }) => {
        $(#[$outer])*
        #[derive(Debug, Deserialize, IntoParams)]
        #[into_params(parameter_in = Query)]
        #[allow(dead_code)]
        pub struct $name { $($(#[$meta])* pub $field: $ty,)* }

        impl QueryParams for $name {
            const NAMES: &'static [&'static str] = &[$(stringify!($field)),*];
        }
    };
}

/// `tier` filter values.
#[derive(Debug, Deserialize, ToSchema)]
pub enum Tier {
    #[serde(rename = "Tier-1")]
    Tier1,
    #[serde(rename = "Tier-2")]
    Tier2,
    #[serde(rename = "Tier-3")]
    Tier3,
}

/// `metric_type` filter values.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MetricType {
    Leading,
    Lagging,
    Operational,
}

/// `status` filter values (the metric's `governance.status`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Draft,
    Active,
    Deprecated,
    Retired,
}

/// List order; `-` means descending. Ties are broken by id.
#[derive(Debug, Deserialize, ToSchema)]
pub enum Sort {
    #[serde(rename = "name")]
    Name,
    #[serde(rename = "-name")]
    NameDesc,
    #[serde(rename = "metric_id")]
    MetricId,
    #[serde(rename = "-metric_id")]
    MetricIdDesc,
    #[serde(rename = "updated_at")]
    UpdatedAt,
    #[serde(rename = "-updated_at")]
    UpdatedAtDesc,
}

/// Export formats.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ExportFormat {
    Json,
    Yaml,
}

query_params! {
    /// Page or cursor pagination, as every list takes it.
    pub struct PageQuery {
        /// Page number, from 1 (not with `cursor`).
        #[param(minimum = 1)]
        page: Option<u32>,
        /// Items per page, 1-100 (default 50; above 100 is capped to 100).
        #[param(minimum = 1)]
        limit: Option<u32>,
        /// Opaque keyset token: the previous page's `pagination.next_cursor` (not with `page`).
        #[param(min_length = 1)]
        cursor: Option<String>,
        /// Cursor mode: also count the total (`count=false` starts cursor mode without counting).
        count: Option<bool>,
    }
}

query_params! {
    /// Filters, order and page of the metric list.
    pub struct MetricListQuery {
        /// Page number, from 1 (not with `cursor`).
        #[param(minimum = 1)]
        page: Option<u32>,
        /// Items per page, 1-100 (default 50; above 100 is capped to 100).
        #[param(minimum = 1)]
        limit: Option<u32>,
        /// Opaque keyset token: the previous page's `pagination.next_cursor` (not with `page` or `q`).
        #[param(min_length = 1)]
        cursor: Option<String>,
        /// Cursor mode: also count the total (`count=false` starts cursor mode without counting).
        /// With `q`: count the matches, up to `MDL_SEARCH_COUNT_CAP` (see `pagination.total_capped`).
        count: Option<bool>,
        /// Exact category.
        #[param(max_length = 100, example = "Customer Experience")]
        category: Option<String>,
        #[param(inline)]
        tier: Option<Tier>,
        /// Exact business domain.
        #[param(max_length = 200)]
        business_domain: Option<String>,
        #[param(inline)]
        metric_type: Option<MetricType>,
        #[param(inline)]
        status: Option<Status>,
        /// Owner team, technical or business owner.
        #[param(max_length = 200)]
        owner: Option<String>,
        /// Tag; repeat for "any of" (at most 100).
        #[param(style = Form, explode, max_items = 100)]
        tag: Option<Vec<String>>,
        /// Full-text search (stemmed, every word must match). Results come by relevance (every word
        /// in the name, then in the name and description, then anywhere), then by `sort`.
        #[param(max_length = 500)]
        q: Option<String>,
        #[param(inline)]
        sort: Option<Sort>,
        /// Comma-separated top-level fields to keep in each item (`metric_id` always stays).
        #[param(max_length = 1000, example = "name,tier")]
        fields: Option<String>,
    }
}

query_params! {
    /// The metric filters and page of the policy list (items are policies: no `fields`).
    pub struct PolicyListQuery {
        /// Page number, from 1 (not with `cursor`).
        #[param(minimum = 1)]
        page: Option<u32>,
        /// Items per page, 1-100 (default 50; above 100 is capped to 100).
        #[param(minimum = 1)]
        limit: Option<u32>,
        /// Opaque keyset token: the previous page's `pagination.next_cursor` (not with `page` or `q`).
        #[param(min_length = 1)]
        cursor: Option<String>,
        /// Cursor mode: also count the total (`count=false` starts cursor mode without counting).
        /// With `q`: count the matches, up to `MDL_SEARCH_COUNT_CAP` (see `pagination.total_capped`).
        count: Option<bool>,
        /// Exact category.
        #[param(max_length = 100)]
        category: Option<String>,
        #[param(inline)]
        tier: Option<Tier>,
        /// Exact business domain.
        #[param(max_length = 200)]
        business_domain: Option<String>,
        #[param(inline)]
        metric_type: Option<MetricType>,
        #[param(inline)]
        status: Option<Status>,
        /// Owner team, technical or business owner.
        #[param(max_length = 200)]
        owner: Option<String>,
        /// Tag; repeat for "any of" (at most 100).
        #[param(style = Form, explode, max_items = 100)]
        tag: Option<Vec<String>>,
        /// Full-text search (stemmed).
        #[param(max_length = 500)]
        q: Option<String>,
        #[param(inline)]
        sort: Option<Sort>,
    }
}

query_params! {
    /// `POST /import` options.
    pub struct ImportQuery {
        /// Validate and count without writing anything.
        dry_run: Option<bool>,
    }
}

query_params! {
    /// `GET /export` options.
    pub struct ExportQuery {
        /// `json` (default) or `yaml` (`application/yaml`).
        #[param(inline)]
        format: Option<ExportFormat>,
    }
}

query_params! {
    /// The two versions a diff compares.
    pub struct DiffQuery {
        /// The version to start from (1 or more).
        #[param(minimum = 1)]
        from: i64,
        /// The version to arrive at (1 or more; may be lower than `from`, which gives the patch
        /// that undoes the changes).
        #[param(minimum = 1)]
        to: i64,
    }
}

query_params! {
    /// How many slow store calls to show.
    pub struct SlowQueryQuery {
        /// 1-200, default 50.
        #[param(minimum = 1, maximum = 200)]
        limit: Option<u32>,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn documented<T: QueryParams>() -> Vec<String> {
        T::into_params(|| None).into_iter().map(|p| p.name).collect()
    }

    fn names<T: QueryParams>() -> Vec<String> {
        T::NAMES.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn names_are_the_documented_parameters() {
        assert_eq!(documented::<PageQuery>(), names::<PageQuery>());
        assert_eq!(documented::<MetricListQuery>(), names::<MetricListQuery>());
        assert_eq!(documented::<PolicyListQuery>(), names::<PolicyListQuery>());
        assert_eq!(documented::<ImportQuery>(), names::<ImportQuery>());
        assert_eq!(documented::<ExportQuery>(), names::<ExportQuery>());
        assert_eq!(documented::<SlowQueryQuery>(), names::<SlowQueryQuery>());
    }

    fn values<T: ToSchema>() -> Vec<String> {
        let schema = serde_json::to_value(T::schema()).unwrap();
        serde_json::from_value(schema["enum"].clone()).unwrap()
    }

    #[test]
    fn enum_values_are_the_ones_the_parser_accepts() {
        use crate::domain::metric::{METRIC_TYPES, STATUSES, TIERS};
        assert_eq!(values::<Tier>(), TIERS);
        assert_eq!(values::<MetricType>(), METRIC_TYPES);
        assert_eq!(values::<Status>(), STATUSES);
        assert_eq!(values::<Sort>(), crate::store::MetricSort::ALLOWED);
        assert_eq!(values::<ExportFormat>(), ["json", "yaml"]);
    }
}
