//! `--junit PATH`: the report, read back as XML.

use super::*;

#[test]
fn junit_has_a_suite_per_binary_and_a_case_per_test_and_seed() {
    let dir = scratch("junit");
    let path = dir.join("not/yet/there/junit.xml");
    let run = run_human(&[
        "-p",
        "ffi-bugs",
        "-p",
        "misc-behaviour",
        "--seeds",
        "0..2",
        // Long enough for the other tests on a loaded 2-core machine; only
        // `never_ends` runs into it.
        "--timeout",
        "3s",
        "--junit",
        path.to_str().unwrap(),
        "--exact",
        "tests::null_write_through_out_pointer",
        "tests::clean_c_call",
        "tests::never_ends",
        "tests::panics_with_message",
        "--",
        "--include-ignored",
    ]);
    assert_eq!(run.code, 100, "{}", run.stderr);
    let xml = std::fs::read_to_string(&path).expect("the JUnit file, parent dirs created");
    let doc = roxmltree::Document::parse(&xml).expect("well-formed XML");
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "testsuites");
    assert_eq!(root.attribute("tests"), Some("8"), "{xml}");
    assert_eq!(root.attribute("failures"), Some("6"), "{xml}");
    let suites: Vec<_> = root
        .children()
        .filter(|n| n.has_tag_name("testsuite"))
        .collect();
    let names: Vec<_> = suites
        .iter()
        .map(|s| s.attribute("name").unwrap())
        .collect();
    assert_eq!(names, ["ffi-bugs", "misc-behaviour"]);

    let case = |name: &str| {
        let found: Vec<_> = doc
            .descendants()
            .filter(|n| n.has_tag_name("testcase") && n.attribute("name") == Some(name))
            .collect();
        assert_eq!(found.len(), 1, "{name} in {xml}");
        found[0]
    };
    let failure = |name: &str| {
        case(name)
            .children()
            .find(|n| n.has_tag_name("failure"))
            .unwrap_or_else(|| panic!("{name} has no failure: {xml}"))
    };
    let seed_of = |name: &str| {
        case(name)
            .descendants()
            .find(|n| n.has_tag_name("property") && n.attribute("name") == Some("seed"))
            .and_then(|p| p.attribute("value"))
            .map(String::from)
    };
    for seed in 0..2 {
        let n = |t: &str| format!("{t} [seed {seed}]");
        assert_eq!(seed_of(&n("tests::clean_c_call")), Some(seed.to_string()));
        let clean = case(&n("tests::clean_c_call"));
        assert_eq!(clean.attribute("classname"), Some("ffi-bugs"));
        assert!(
            clean.children().all(|c| !c.has_tag_name("failure")),
            "{xml}"
        );

        let f = failure(&n("tests::null_write_through_out_pointer"));
        assert_eq!(f.attribute("type"), Some("null-dereference"));
        assert_eq!(
            f.attribute("message"),
            Some("null-dereference: WRITE of size 4 at 0x0 (NULL + 0x0)")
        );
        let text = f.text().unwrap();
        let line = bug_line("ffi-bugs/csrc/bugs.c", "write_result");
        assert!(
            text.starts_with("error[null-dereference]: WRITE of size 4"),
            "{text}"
        );
        assert!(
            text.contains(&format!("--> ffi-bugs/csrc/bugs.c:{line}:")),
            "{text}"
        );
        assert!(text.contains(&format!("(seed {seed})")), "{text}");
        assert!(text.contains("= rerun: cargo ffi-check"), "{text}");
        assert!(!text.contains('\u{1b}'), "no color: {text:?}");

        let hang = failure(&n("tests::never_ends"));
        assert_eq!(hang.attribute("type"), Some("timeout"));
        assert!(hang.text().unwrap().contains("error[timeout]"), "{xml}");

        let panic = failure(&n("tests::panics_with_message"));
        assert_eq!(panic.attribute("type"), Some("test-failure"));
        assert!(
            panic
                .attribute("message")
                .unwrap()
                .contains("arithmetic is broken"),
            "{xml}"
        );
        let stderr = case(&n("tests::panics_with_message"))
            .children()
            .find(|c| c.has_tag_name("system-err"))
            .and_then(|c| c.text())
            .unwrap_or_default();
        assert!(stderr.contains("panicked at"), "{xml}");
    }
}

#[test]
fn junit_names_cases_after_the_test_alone_with_one_seed() {
    let dir = scratch("junit-one-seed");
    let path = dir.join("junit.xml");
    let run = run_human(&["-p", "clean", "--junit", path.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let xml = std::fs::read_to_string(&path).unwrap();
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let cases: Vec<_> = doc
        .descendants()
        .filter(|n| n.has_tag_name("testcase"))
        .map(|n| n.attribute("name").unwrap().to_string())
        .collect();
    assert!(
        cases.contains(&"tests::clean_strlen_of_a_cstring".to_string()),
        "{cases:?}"
    );
    assert!(cases.iter().all(|c| !c.contains("[seed")), "{cases:?}");
    assert_eq!(doc.root_element().attribute("failures"), Some("0"));
}

#[test]
fn a_junit_file_that_cannot_be_written_is_an_error_after_the_run() {
    let dir = scratch("junit-unwritable");
    // A directory where the file should be.
    let path = dir.join("junit.xml");
    std::fs::create_dir_all(&path).unwrap();
    let run = run_json(&[
        "-p",
        "clean",
        "--exact",
        "tests::clean_sum_of_a_slice",
        "--junit",
        path.to_str().unwrap(),
    ]);
    assert_eq!(run.code, 96, "{}", run.stderr);
    assert!(
        run.stderr.contains("could not write the JUnit report"),
        "{}",
        run.stderr
    );
    assert_eq!(run.summary()["passed"], 1);
}
