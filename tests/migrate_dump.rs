//! Prints a migration: `MIGRATE_DUMP=path cargo test --test migrate_dump -- --nocapture`.
#[test]
fn dump() {
    let Ok(p) = std::env::var("MIGRATE_DUMP") else {
        return;
    };
    let inputs: Vec<std::path::PathBuf> = p.split(',').map(Into::into).collect();
    match amavisd_rs::migrate::migrate(&inputs) {
        Ok(o) => {
            println!("{}", o.yaml);
            for w in o.warnings {
                println!("W: {w}");
            }
        }
        Err(e) => println!("ERR {e} exit={}", e.exit_code()),
    }
}
