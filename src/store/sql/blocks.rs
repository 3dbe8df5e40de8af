//! Search blocks: which words occur in which stretch of the name order (see the migrations
//! `create_search_blocks` and docs/design.md, "Search blocks"). A search page reads the list's
//! order from the first block that can hold its words, instead of from the start: a word
//! whose metrics all sort far into the order otherwise read every match (4 s at 1M).
//!
//! What a search relies on: every metric is covered by a row whose lower key is at most the
//! metric's (name, id) and whose words include the metric's own. Rows may hold more (words
//! of metrics since renamed, rewritten or deleted): that costs a read, never a result.

use super::{Dialect, ListSpec};
use sqlx::{Database, Encode, QueryBuilder, Type};

/// A transaction writing more metrics than this marks the blocks stale instead of adding a
/// row per metric: a bulk load is followed by a build (the CLI's, or the server's check).
pub(crate) const APPEND_MAX: usize = 1_000;

/// Blocks from the first one holding the words that must all hold them for a search to walk
/// the order without counting the words first (see `BlockStart::From`).
pub(crate) const DENSE_RUN: i64 = 8;

/// Where a tier's matches can start in the name order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum BlockStart {
    /// No blocks to go by (stale, switched off, or a list order other than by name).
    Unknown,
    /// No block holds the words: the tier is empty.
    Empty,
    /// No match sorts before this key (name, id). `dense`: the first `DENSE_RUN` blocks from
    /// there all hold the words, and enough blocks do for the word to be common, so a walk
    /// from the key is likely to fill a page without a count of the matches first (a word in
    /// under 1 % of the rows, spread evenly, is in 8 blocks of 64 in a row about once in 500).
    From { name: String, id: String, dense: bool },
}

impl BlockStart {
    /// Decodes the row of `Dialect::block_start_query`: the stale flag, the key of the first
    /// block holding the words (NULLs when none does), and whether the start is dense.
    pub(crate) fn from_row(stale: bool, name: Option<String>, id: Option<String>, dense: bool) -> Self {
        match (stale, name, id) {
            (true, _, _) => BlockStart::Unknown,
            (false, Some(name), Some(id)) => BlockStart::From { name, id, dense },
            _ => BlockStart::Empty,
        }
    }

    /// The key a read of the order may start at.
    pub(crate) fn key(&self) -> Option<(&str, &str)> {
        match self {
            BlockStart::From { name, id, .. } => Some((name, id)),
            _ => None,
        }
    }

    /// Whether the blocks from the start all hold the words (see `From`).
    pub(crate) fn dense(&self) -> bool {
        matches!(self, BlockStart::From { dense: true, .. })
    }
}

/// Whether a list can go by the blocks: they follow the default order, by name ascending.
pub(crate) fn follows_blocks(spec: &ListSpec<'_>) -> bool {
    spec.table == "metrics" && spec.sort_col == "name" && !spec.descending
}

/// `AND (t.name, t.metric_id) >= (name, id)`: what the blocks let a tier's read skip.
pub(crate) fn push_from<DB: Dialect>(qb: &mut QueryBuilder<DB>, from: Option<(&str, &str)>)
where
    for<'t> String: Encode<'t, DB> + Type<DB>,
    <DB as Database>::Arguments: Default,
{
    if let Some((name, id)) = from {
        qb.push(" AND (t.name, t.metric_id) >= (")
            .push_bind(name.to_string())
            .push(", ")
            .push_bind(id.to_string())
            .push(")");
    }
}

/// The blocks' bookkeeping, as read before deciding on a build.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BlocksState {
    pub stale: bool,
    /// Rows per block of the last build (0 before the first).
    pub block_rows: i64,
    /// Blocks of the last build.
    pub blocks: i64,
    /// Rows written since the last build (one per metric write).
    pub appended: i64,
    pub metrics: i64,
}

impl From<(bool, i64, i64, i64, i64)> for BlocksState {
    /// The row of a backend's state query: stale, block rows, blocks, appended, metrics.
    fn from((stale, block_rows, blocks, appended, metrics): (bool, i64, i64, i64, i64)) -> Self {
        BlocksState {
            stale,
            block_rows,
            blocks,
            appended,
            metrics,
        }
    }
}

/// Why the blocks need building again, or `None`. `rows` is the configured block size.
pub(crate) fn build_due(s: &BlocksState, rows: i64) -> Option<&'static str> {
    let capacity = s.block_rows.max(rows) * s.blocks.max(1);
    if s.stale {
        Some("stale")
    } else if s.metrics > 2 * capacity {
        // Twice what the layout was built for: its blocks now hold two blocks' worth each on
        // average (a catalog grown by single writes has one block until its first build).
        Some("outgrown")
    } else if s.appended > (s.metrics / 20).max(2_000) {
        // Each row added since the build is read by the searches for its words.
        Some("appended")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(stale: bool, block_rows: i64, blocks: i64, appended: i64, metrics: i64) -> BlocksState {
        (stale, block_rows, blocks, appended, metrics).into()
    }

    #[test]
    fn a_build_is_due_when_stale_outgrown_or_after_many_writes() {
        assert_eq!(build_due(&state(true, 256, 10, 0, 100), 256), Some("stale"));
        // Before any build: one block, due past twice the configured size.
        assert_eq!(build_due(&state(false, 0, 0, 0, 512), 256), None);
        assert_eq!(build_due(&state(false, 0, 0, 0, 513), 256), Some("outgrown"));
        assert_eq!(build_due(&state(false, 256, 100, 0, 51_200), 256), None);
        assert_eq!(build_due(&state(false, 256, 100, 0, 51_201), 256), Some("outgrown"));
        // Appended rows: 2,000 at least, a twentieth of the catalog at 1M.
        assert_eq!(build_due(&state(false, 256, 4_000, 2_000, 10_000), 256), None);
        assert_eq!(
            build_due(&state(false, 256, 4_000, 2_001, 10_000), 256),
            Some("appended")
        );
        assert_eq!(build_due(&state(false, 256, 4_000, 50_000, 1_000_000), 256), None);
        assert_eq!(
            build_due(&state(false, 256, 4_000, 50_001, 1_000_000), 256),
            Some("appended")
        );
    }

    #[test]
    fn a_start_row_decodes_to_unknown_empty_or_a_key() {
        assert_eq!(
            BlockStart::from_row(true, Some("a".into()), Some("b".into()), true),
            BlockStart::Unknown
        );
        assert_eq!(BlockStart::from_row(false, None, None, true), BlockStart::Empty);
        let start = BlockStart::from_row(false, Some("a".into()), Some("b".into()), false);
        assert_eq!(start.key(), Some(("a", "b")));
        assert!(!start.dense());
        assert!(BlockStart::from_row(false, Some("a".into()), Some("b".into()), true).dense());
    }
}
