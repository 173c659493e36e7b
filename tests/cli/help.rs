//! `--help` is documentation: snapshot it so that changes are reviewed.

use crate::common::*;

#[test]
fn help_texts_have_examples() {
    let ctx = TestContext::empty();
    for (name, args) in [
        ("main", &["--help"][..]),
        ("resolve", &["resolve", "--help"]),
        ("verify", &["verify", "--help"]),
        ("offline_bootstrap", &["offline-bootstrap", "--help"]),
        ("mode", &["mode", "--help"]),
        ("matrix", &["matrix", "--help"]),
        ("snapi", &["snapi", "--help"]),
        ("clamp", &["clamp", "--help"]),
    ] {
        let run = ctx.run(args);
        assert_eq!(run.code, 0);
        assert!(run.stdout.contains("Example"), "{name} has no example");
        insta::assert_snapshot!(name, run.stdout);
    }
}
