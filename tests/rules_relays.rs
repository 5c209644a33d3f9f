//! Relay parsing from `Received:` headers compared with SpamAssassin's own
//! strings (tests/fixtures/messages/sa-relays.jsonl, from scripts/sa-relays.pl).

use amavisd_rs::rules::relay_summary;

/// Messages whose relay strings we reproduce exactly (measured).
const MIN_EXACT: usize = 20;

#[test]
fn relays_match_spamassassin() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/messages");
    let want = std::fs::read_to_string(dir.join("sa-relays.jsonl")).unwrap();
    let (mut exact, mut n) = (0, 0);
    for line in want.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let file = v["file"].as_str().unwrap();
        let msg = std::fs::read(dir.join(file)).unwrap();
        let (t, u, unp) = relay_summary(&msg);
        n += 1;
        let ok = t == v["trusted"].as_str().unwrap()
            && u == v["untrusted"].as_str().unwrap()
            && unp as u64 == v["unparseable"].as_u64().unwrap();
        if ok {
            exact += 1;
        } else {
            println!(
                "DIFF {file}\n  ours T: {t}\n  SA   T: {}\n  ours U: {u}\n  SA   U: {}\n  unparseable {unp} vs {}",
                v["trusted"], v["untrusted"], v["unparseable"]
            );
        }
    }
    println!("relay strings identical for {exact}/{n} messages");
    assert!(exact >= MIN_EXACT);
}
