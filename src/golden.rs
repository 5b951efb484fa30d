//! Golden text for tests: what users read (error messages, command output) compared byte for byte
//! with files under `tests/golden/`, so that a refactor cannot change it unseen.

/// Compares `actual` with `tests/golden/<name>`, or writes it there with `UPDATE_GOLDEN=1`.
pub(crate) fn compare(name: &str, actual: &str) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden").join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}; UPDATE_GOLDEN=1 writes it", path.display()));
    if let Some((n, (want, got))) =
        expected.lines().zip(actual.lines()).enumerate().find(|(_, (want, got))| want != got)
    {
        panic!("{name}, line {}:\nexpected: {want}\n     got: {got}", n + 1);
    }
    assert_eq!(expected.lines().count(), actual.lines().count(), "{name}: the number of lines differs");
    assert!(expected == actual, "{name}: differs in line endings or a final newline");
}
