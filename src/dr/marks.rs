//! The newest recorded position ("mark") of each (group, topic, partition): what a
//! recording pass compares the groups' committed offsets with, to record only those that
//! moved. At 1,000 groups there are hundreds of thousands, and a `--follow` recorder looks
//! every one up on every pass: they are kept by group, then topic, then partition, so a
//! lookup by borrowed names allocates nothing and each group's and topic's name is held
//! once, not once per partition.

use std::collections::HashMap;
use std::sync::Arc;

/// One (group, topic, partition)'s newest recorded position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mark {
    pub committed_offset: i64,
    /// The topic's id when recorded (`None`: not known); shared by the marks of the
    /// topic (see `Interner`).
    pub topic_id: Option<Arc<str>>,
    /// When the journal recorded it (its own text form); shared by the marks one pass
    /// recorded.
    pub recorded_at: Option<Arc<str>>,
}

/// The marks of one cluster. Applying rows in the order they were recorded leaves the
/// newest of each.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Marks {
    by_group: HashMap<String, GroupMarks>,
    len: usize,
}

/// One group's marks, with their count and the newest time among them (kept as they are
/// applied: a recorder reports both per group on every pass).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupMarks {
    topics: HashMap<String, HashMap<i32, Mark>>,
    len: usize,
    newest_recorded_at: Option<Arc<str>>,
}

impl Marks {
    /// `group`'s mark on `topic` partition `partition`, if one was recorded.
    pub fn get(&self, group: &str, topic: &str, partition: i32) -> Option<&Mark> {
        self.by_group.get(group)?.topics.get(topic)?.get(&partition)
    }

    /// Record `mark` as the newest of (group, topic, partition).
    pub fn apply(&mut self, group: &str, topic: &str, partition: i32, mark: Mark) {
        let g = match self.by_group.get_mut(group) {
            Some(g) => g,
            None => self.by_group.entry(group.to_string()).or_default(),
        };
        if mark.recorded_at > g.newest_recorded_at {
            g.newest_recorded_at.clone_from(&mark.recorded_at);
        }
        let parts = match g.topics.get_mut(topic) {
            Some(p) => p,
            None => g.topics.entry(topic.to_string()).or_default(),
        };
        if parts.insert(partition, mark).is_none() {
            g.len += 1;
            self.len += 1;
        }
    }

    /// How many (group, topic, partition) are marked.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Each group with its marks, in no particular order.
    pub fn groups(&self) -> impl Iterator<Item = (&str, &GroupMarks)> {
        self.by_group.iter().map(|(g, m)| (g.as_str(), m))
    }

    /// A reader for positions that come group by group and topic by topic (as a cluster
    /// lists them): each group's and topic's name is looked up once per run of them, not
    /// once per partition.
    pub fn cursor(&self) -> Cursor<'_> {
        Cursor {
            marks: self,
            group: None,
            topic: None,
        }
    }
}

impl GroupMarks {
    /// Each (topic, partition, mark), in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, i32, &Mark)> {
        self.topics
            .iter()
            .flat_map(|(t, parts)| parts.iter().map(move |(p, m)| (t.as_str(), *p, m)))
    }

    /// How many (topic, partition) of the group are marked.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The newest time any row applied to the group was recorded (a row another one
    /// replaced included: the group was recorded then).
    pub fn newest_recorded_at(&self) -> Option<&str> {
        self.newest_recorded_at.as_deref()
    }
}

/// Shares equal texts between marks: rows come in recording order, so the rows of one
/// pass have the same time and a topic's rows the same id. Each of hundreds of thousands
/// of marks then holds two pointers, not two strings.
#[derive(Debug, Default)]
pub struct Interner {
    last: Vec<Arc<str>>,
}

impl Interner {
    /// `text` as an `Arc`, the one handed out last for an equal text when there is one.
    pub fn share(&mut self, text: Option<String>) -> Option<Arc<str>> {
        let text = text?;
        if let Some(same) = self.last.iter().find(|s| ***s == *text) {
            return Some(same.clone());
        }
        let shared: Arc<str> = Arc::from(text);
        // A few recent texts: a pass's time and the ids of the topics it interleaves.
        if self.last.len() >= 8 {
            self.last.remove(0);
        }
        self.last.push(shared.clone());
        Some(shared)
    }
}

/// See `Marks::cursor`.
#[derive(Debug)]
pub struct Cursor<'m> {
    marks: &'m Marks,
    group: Option<(String, Option<&'m GroupMarks>)>,
    topic: Option<(String, Option<&'m HashMap<i32, Mark>>)>,
}

impl<'m> Cursor<'m> {
    /// As `Marks::get`.
    pub fn get(&mut self, group: &str, topic: &str, partition: i32) -> Option<&'m Mark> {
        if self.group.as_ref().is_none_or(|(g, _)| g != group) {
            self.group = Some((group.to_string(), self.marks.by_group.get(group)));
            self.topic = None;
        }
        let marks = self.group.as_ref().and_then(|(_, m)| *m)?;
        if self.topic.as_ref().is_none_or(|(t, _)| t != topic) {
            self.topic = Some((topic.to_string(), marks.topics.get(topic)));
        }
        self.topic.as_ref().and_then(|(_, p)| *p)?.get(&partition)
    }

    /// Whether a position at `committed` of a topic with id `topic_id` differs from the
    /// mark: its offset moved, or the topic is another incarnation than the one marked
    /// (the same offset in a recreated topic is another position). Unmarked: changed.
    pub fn changed(
        &mut self,
        group: &str,
        topic: &str,
        partition: i32,
        committed: i64,
        topic_id: Option<&str>,
    ) -> bool {
        self.get(group, topic, partition).is_none_or(|m| {
            m.committed_offset != committed
                || (topic_id.is_some() && m.topic_id.as_deref() != topic_id)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn mark(offset: i64, id: Option<&str>) -> Mark {
        Mark {
            committed_offset: offset,
            topic_id: id.map(Arc::from),
            recorded_at: None,
        }
    }

    #[test]
    fn a_moved_offset_or_another_incarnation_is_a_change() {
        let mut m = Marks::default();
        m.apply("g", "orders", 0, mark(5, Some("A")));
        let mut c = m.cursor();
        assert!(!c.changed("g", "orders", 0, 5, Some("A")));
        // A pass that could not read the topic's id compares the offset only.
        assert!(!c.changed("g", "orders", 0, 5, None));
        assert!(c.changed("g", "orders", 0, 6, Some("A")));
        assert!(c.changed("g", "orders", 0, 5, Some("B")));
        assert!(c.changed("g", "orders", 1, 5, Some("A")));
        assert!(c.changed("h", "orders", 0, 5, Some("A")));
        assert!(c.changed("g", "payments", 0, 5, Some("A")));
        // Back to a group and topic seen before.
        assert!(!c.changed("g", "orders", 0, 5, Some("A")));
    }

    proptest! {
        /// Applied in recording order, the marks hold each key's last row, and count
        /// each key once: the same as the journal's "newest row per key".
        #[test]
        fn applying_rows_in_order_keeps_the_newest_of_each(
            rows in proptest::collection::vec((0..4u8, 0..3u8, 0..3i32, 0..50i64), 0..200)
        ) {
            let mut m = Marks::default();
            let mut newest: std::collections::BTreeMap<(String, String, i32), i64> =
                Default::default();
            let mut newest_at: std::collections::BTreeMap<String, String> = Default::default();
            for (i, (g, t, p, o)) in rows.iter().enumerate() {
                let (g, t) = (format!("g{g}"), format!("t{t}"));
                // Recording times are not in row order (a `deltas import` keeps the
                // recorder's): the newest is the greatest, not the last.
                let at = format!("2026-12-04T10:00:{:02}Z", (i * 7) % 60);
                m.apply(&g, &t, *p, Mark { recorded_at: Some(Arc::from(at.as_str())), ..mark(*o, None) });
                newest.insert((g.clone(), t, *p), *o);
                let e = newest_at.entry(g).or_default();
                if at > *e {
                    *e = at;
                }
            }
            prop_assert_eq!(m.len(), newest.len());
            let mut c = m.cursor();
            for ((g, t, p), o) in &newest {
                prop_assert_eq!(m.get(g, t, *p).map(|k| k.committed_offset), Some(*o));
                prop_assert_eq!(c.get(g, t, *p).map(|k| k.committed_offset), Some(*o));
                prop_assert!(c.get(g, t, *p + 3).is_none());
            }
            let listed: usize = m.groups().map(|(_, gm)| gm.iter().count()).sum();
            prop_assert_eq!(listed, newest.len());
            for (g, gm) in m.groups() {
                prop_assert_eq!(gm.len(), gm.iter().count());
                prop_assert_eq!(gm.newest_recorded_at(), newest_at.get(g).map(String::as_str));
            }
        }
    }
}
