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
        ("update", &["update", "--help"]),
        ("smart_bootstrap", &["smart-bootstrap", "--help"]),
        ("diagnostics", &["diagnostics", "--help"]),
        ("cache_build", &["cache-build", "--help"]),
        ("cache_verify", &["cache-verify", "--help"]),
    ] {
        let run = ctx.run(args);
        assert_eq!(run.code, 0);
        assert!(run.stdout.contains("Example"), "{name} has no example");
        insta::assert_snapshot!(name, run.stdout);
    }
    // Every subcommand, at every level, shows an example.
    for args in [
        &["mode", "show"][..],
        &["mode", "reset"],
        &["matrix", "check"],
        &["snapi", "list"],
        &["snapi", "call"],
        &["snapi", "serve"],
        &["clamp", "capture"],
        &["clamp", "verify"],
        &["clamp", "restore"],
    ] {
        let run = ctx.run(&[args, &["--help"]].concat());
        assert_eq!(run.code, 0);
        assert!(run.stdout.contains("Example"), "{args:?} has no example");
    }
}
