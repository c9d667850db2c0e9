use super::{Inventory, Source};

fn load(text: &str, files: &[(&str, &str)]) -> Result<Inventory, String> {
    let dir = tempfile::tempdir().unwrap();
    for (name, content) in files {
        std::fs::write(dir.path().join(name), content).unwrap();
    }
    let path = dir.path().join("bbctl.toml");
    std::fs::write(&path, text).unwrap();
    Inventory::load(Source {
        inventory: Some(&path),
        agents: &[],
        token_file: None,
        ca_file: None,
    })
    .map_err(|f| f.message)
}

#[test]
fn ca_file_per_master_wins_over_defaults_and_resolves_next_to_the_inventory() {
    let inv = load(
        "[defaults]\ntoken = \"t\"\nca_file = \"ca.pem\"\n\
         [[masters]]\nname = \"m1\"\nurl = \"https://127.0.0.1:1\"\n\
         [[masters]]\nname = \"m2\"\nurl = \"https://127.0.0.1:2\"\nca_file = \"/etc/own.pem\"\n",
        &[],
    )
    .unwrap();
    let ca = inv.targets[0].ca_file.as_deref().unwrap();
    assert!(
        ca.is_absolute() && ca.ends_with("ca.pem"),
        "{}",
        ca.display()
    );
    assert_eq!(
        inv.targets[1].ca_file.as_deref(),
        Some(std::path::Path::new("/etc/own.pem"))
    );
}

#[test]
fn relative_token_file_resolves_next_to_the_inventory() {
    let inv = load(
        "[defaults]\ntoken_file = \"tok\"\ntimeout_secs = 1.5\n\
         [[masters]]\nname = \"m1\"\nurl = \"http://127.0.0.1:1\"\n\
         [[masters]]\nname = \"m2\"\nurl = \"http://127.0.0.1:2\"\ntoken = \"own\"\nstandby = true\n",
        &[("tok", "from-file\n")],
    )
    .unwrap();
    assert_eq!(inv.targets[0].token.expose(), "from-file");
    assert_eq!(inv.targets[1].token.expose(), "own");
    assert!(inv.targets[1].standby);
    assert_eq!(inv.timeout.as_millis(), 1500);
}

#[test]
fn seeds_alone_are_an_inventory_with_their_own_or_the_default_token_and_ca() {
    let inv = load(
        "[defaults]\ntoken_file = \"tok\"\nca_file = \"ca.pem\"\n\
         [[seeds]]\nurl = \"https://10.0.0.1:7700/\"\n\
         [[seeds]]\nurl = \"https://10.0.0.2:7700\"\ntoken = \"own\"\nca_file = \"/etc/own.pem\"\n",
        &[("tok", "from-file\n")],
    )
    .unwrap();
    assert!(inv.targets.is_empty());
    assert!(inv.named);
    let seeds: Vec<(&str, &str, &str)> = inv
        .seeds
        .iter()
        .map(|s| {
            (
                s.name.as_str(),
                s.token.expose(),
                s.ca_file.as_deref().unwrap().to_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(seeds[0].0, "https://10.0.0.1:7700");
    assert_eq!(seeds[0].1, "from-file");
    assert!(seeds[0].2.ends_with("/ca.pem"), "{}", seeds[0].2);
    assert_eq!(seeds[1], ("https://10.0.0.2:7700", "own", "/etc/own.pem"));
    assert_eq!(inv.default_token.as_ref().unwrap().expose(), "from-file");
    assert!(inv.default_ca_file.unwrap().ends_with("ca.pem"));
}

#[test]
fn rejects_an_empty_inventory_and_bad_seeds() {
    let empty = load("[defaults]\ntoken = \"t\"\n", &[]).unwrap_err();
    assert!(empty.contains("no [[masters]] and no [[seeds]]"), "{empty}");
    let no_token = load("[[seeds]]\nurl = \"http://x:1\"\n", &[]).unwrap_err();
    assert!(
        no_token.contains("seed `http://x:1` has no token"),
        "{no_token}"
    );
    let twice = "[defaults]\ntoken = \"t\"\n[[seeds]]\nurl = \"http://x:1\"\n\
                 [[seeds]]\nurl = \"http://x:1/\"\n";
    assert!(load(twice, &[]).unwrap_err().contains("appears twice"));
    let scheme = load(
        "[defaults]\ntoken = \"t\"\n[[seeds]]\nurl = \"ftp://x\"\n",
        &[],
    );
    assert!(scheme.unwrap_err().contains("must be http or https"));
    let typo = load(
        "[defaults]\ntoken = \"t\"\n[[seeds]]\nurl = \"http://x\"\nname = \"s\"\n",
        &[],
    );
    assert!(typo.unwrap_err().contains("name"));
}

#[test]
fn rejects_typos_duplicates_and_missing_tokens() {
    let typo = load(
        "[[masters]]\nname = \"m\"\nurl = \"http://x\"\ntokn = \"t\"\n",
        &[],
    );
    assert!(typo.unwrap_err().contains("tokn"));
    let dup = "[defaults]\ntoken = \"t\"\n[[masters]]\nname = \"m\"\nurl = \"http://x\"\n\
               [[masters]]\nname = \"m\"\nurl = \"http://y\"\n";
    assert!(load(dup, &[]).unwrap_err().contains("twice"));
    let no_token = load("[[masters]]\nname = \"m\"\nurl = \"http://x\"\n", &[]);
    assert!(no_token.unwrap_err().contains("no token"));
}
