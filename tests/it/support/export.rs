//! The export as the streaming writer produces it, and the document it must equal: the whole
//! catalog built in memory and rendered at once, as exports were made before they streamed.

use mdl::catalog::{Format, export, format};
use mdl::store::{EntityKind, MetricQuery, MetricSort, PageRequest, Store, Stored};
use serde_json::{Map, Value};

/// The export's text, as `mdl export` and `GET /api/v1/export` write it.
pub async fn export_text(store: &dyn Store, fmt: Format) -> String {
    let mut reader = store.read_catalog().await.expect("open a catalog read");
    tokio::task::spawn_blocking(move || {
        let mut out = Vec::new();
        export::write(&mut *reader, fmt, &mut out, &tokio::runtime::Handle::current()).expect("export");
        String::from_utf8(out).expect("utf-8")
    })
    .await
    .expect("export task")
}

/// The export parsed back.
pub async fn export_value(store: &dyn Store) -> Value {
    serde_json::from_str(&export_text(store, Format::Json).await).expect("the export is JSON")
}

/// The catalog as one value, read through the ordinary listing calls: catalog fields, then
/// metrics by id, domains and objectives by name.
pub async fn whole_catalog(store: &dyn Store) -> Value {
    let mut out: Map<String, Value> = store.catalog_info().await.unwrap();
    let mut metrics = Vec::new();
    let mut query = MetricQuery {
        sort: MetricSort::MetricId,
        ..MetricQuery::default()
    };
    query.page = PageRequest::Cursor {
        after: None,
        limit: 100,
        count: false,
    };
    loop {
        let page = store.list_metrics(&query).await.unwrap();
        metrics.extend(page.items.iter().map(Stored::to_json));
        match page.next_cursor {
            Some(c) => {
                query.page = PageRequest::Cursor {
                    after: Some(c),
                    limit: 100,
                    count: false,
                }
            }
            None => break,
        }
    }
    out.insert("metrics".into(), Value::Array(metrics));
    for (key, kind) in [("domains", EntityKind::Domain), ("objectives", EntityKind::Objective)] {
        let page = PageRequest::Offset { page: 1, limit: 100 };
        let items = store.list_entities(kind, &page).await.unwrap().items;
        out.insert(key.into(), Value::Array(items.iter().map(Stored::to_json).collect()));
    }
    Value::Object(out)
}

/// `whole_catalog` rendered at once, as the export used to be.
pub async fn rendered_at_once(store: &dyn Store, fmt: Format) -> String {
    format::render(&whole_catalog(store).await, fmt).expect("render")
}
