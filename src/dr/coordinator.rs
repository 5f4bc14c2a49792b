//! Where Kafka keeps a group's committed offsets: partition
//! `abs(groupId.hashCode()) % partitions` of `__consumer_offsets` (Kafka's
//! `GroupCoordinatorService.partitionFor`, the same rule in the classic coordinator).
//! Every change to a group's offsets (a member's commit, a consumer that commits without
//! joining, an admin reset or delete, an expiry) is a record appended there, so a
//! partition whose log end did not move has no group whose offsets changed: a recorder
//! that remembers the log ends asks only the groups of the partitions that moved.

/// The `__consumer_offsets` partition of `group` when the topic has `partitions`.
pub fn offsets_partition(group: &str, partitions: i32) -> i32 {
    // Java's String.hashCode: over UTF-16 code units, wrapping.
    let hash = group.encode_utf16().fold(0i32, |h, unit| {
        h.wrapping_mul(31).wrapping_add(i32::from(unit))
    });
    // Kafka's Utils.abs: Integer.MIN_VALUE maps to 0 (Math.abs would keep it negative).
    let abs = if hash == i32::MIN { 0 } else { hash.abs() };
    abs % partitions.max(1)
}

/// The groups of `groups` to ask for their offsets now: all when `before` (the log ends
/// at the last ask, by partition) is unknown or of another partition count, otherwise
/// those never asked, and those whose partition's log end moved since.
pub fn groups_to_ask<'g>(
    groups: &'g [String],
    asked: impl Fn(&str) -> bool,
    before: Option<&[i64]>,
    now: &[i64],
) -> Vec<&'g str> {
    let partitions = i32::try_from(now.len()).unwrap_or(i32::MAX);
    groups
        .iter()
        .map(String::as_str)
        .filter(|g| {
            let Some(before) = before.filter(|b| b.len() == now.len() && !now.is_empty()) else {
                return true;
            };
            let p = usize::try_from(offsets_partition(g, partitions)).unwrap_or(0);
            !asked(g) || before.get(p) != now.get(p)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_partition_is_javas_string_hash_as_kafka_takes_it() {
        // "hello".hashCode() == 99162322 in Java; 99162322 % 50 == 22.
        assert_eq!(offsets_partition("hello", 50), 22);
        // "polygenelubricants".hashCode() == Integer.MIN_VALUE: Utils.abs gives 0.
        assert_eq!(offsets_partition("polygenelubricants", 50), 0);
        // A negative hash: "app-consumers".hashCode() == -1187192175 (abs % 50 == 25).
        assert_eq!(offsets_partition("app-consumers", 50), 25);
        // Beyond the BMP: two UTF-16 units, as Java counts them ("g\uD83D\uDE00" hashes
        // to 1871882 in Java).
        assert_eq!(offsets_partition("g\u{1F600}", 50), 32);
        assert_eq!(offsets_partition("g\u{1F600}", 7), 5);
        assert_eq!(offsets_partition("", 50), 0);
    }

    #[test]
    fn only_groups_of_partitions_that_moved_or_never_asked_are_asked() {
        let groups: Vec<String> = ["hello", "app-consumers", "new"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let asked = |g: &str| g != "new";
        let mut before = vec![0i64; 50];
        before[22] = 5;
        before[25] = 9;
        let mut now = before.clone();
        // Nothing moved: only the group never asked.
        assert_eq!(
            groups_to_ask(&groups, asked, Some(&before), &now),
            vec!["new"]
        );
        // "hello"'s partition moved.
        now[22] = 6;
        assert_eq!(
            groups_to_ask(&groups, asked, Some(&before), &now),
            vec!["hello", "new"]
        );
        // Unknown before, or another partition count: everyone.
        assert_eq!(groups_to_ask(&groups, asked, None, &now).len(), 3);
        assert_eq!(
            groups_to_ask(&groups, asked, Some(&before[..10]), &now).len(),
            3
        );
    }
}
