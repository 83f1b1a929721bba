//! Fixture loading never panics: arbitrary bytes and arbitrary JSON as fixture files and
//! manifests give a typed error naming the file, or load.

use std::path::PathBuf;

use flametrench_conformance::Corpus;
use proptest::prelude::*;

fn scratch() -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "ft-fixture-fuzz-{}-{:x}",
        std::process::id(),
        rand_suffix()
    ));
    std::fs::create_dir_all(dir.join("fixtures/tenancy")).expect("scratch dir");
    dir
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|time| time.as_nanos())
        .unwrap_or_default()
}

fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::Bool),
        any::<i64>().prop_map(|n| serde_json::json!(n)),
        ".{0,20}".prop_map(serde_json::Value::String),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::Array),
            proptest::collection::btree_map(
                prop_oneof![
                    Just("tests".to_owned()),
                    Just("steps".to_owned()),
                    Just("capability".to_owned()),
                    Just("fixtures".to_owned()),
                    "[a-z_]{1,12}"
                ],
                inner,
                0..6
            )
            .prop_map(|map| serde_json::Value::Object(map.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_fixture_files_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256), value in json_value()) {
        let dir = scratch();
        std::fs::write(dir.join("fixtures/tenancy/bytes.json"), &bytes).expect("write");
        let first = Corpus::load(&dir);
        if let Err(error) = &first {
            prop_assert!(error.to_string().contains("bytes.json") || error.to_string().contains("fixtures"));
        }
        std::fs::write(dir.join("fixtures/tenancy/bytes.json"), value.to_string()).expect("write");
        let _ = Corpus::load(&dir);
        std::fs::write(dir.join("index.json"), value.to_string()).expect("write");
        let _ = Corpus::load(&dir);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
