//! Benchmark: `bbctl masters list -o json` over 10, 100 and 1000 simulated agents on loopback
//! (the integration tests' fake agent, one process serving N ports), to see how the CLI scales
//! with the fleet. Targets: ≤ 200 ms for 100 agents, ≤ 1 s for 1000 (10 is the baseline, with
//! the 100 ms target of a small fleet). Run with `cargo bench -p bbctl`; 1000 agents need ~2000 file
//! descriptors (`ulimit -n`).

#[allow(dead_code)]
#[path = "../tests/cli/fake_agent.rs"]
mod fake_agent;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bbctl_api::MasterState;
use fake_agent::{FakeAgent, TOKEN};

const RUNS: usize = 11;

fn main() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("token"), TOKEN).expect("write token");
    let mut agents: Vec<FakeAgent> = Vec::new();
    let mut failed = false;
    for (count, target) in [
        (10, Duration::from_millis(100)),
        (100, Duration::from_millis(200)),
        (1000, Duration::from_secs(1)),
    ] {
        while agents.len() < count {
            let i = agents.len() + 1;
            agents.push(FakeAgent::start(
                &format!("master-{i}"),
                i as i64,
                MasterState::Running,
            ));
        }
        let mut inventory = "[defaults]\ntoken_file = \"token\"\n".to_string();
        for (i, agent) in agents.iter().enumerate() {
            inventory.push_str(&format!(
                "[[masters]]\nname = \"master-{}\"\nurl = \"{}\"\n",
                i + 1,
                agent.url()
            ));
        }
        let path = dir.path().join(format!("bbctl-{count}.toml"));
        std::fs::write(&path, inventory).expect("write inventory");

        let mut times: Vec<Duration> = (0..RUNS).map(|_| run_once(&path, count)).collect();
        times.sort();
        let median = times[RUNS / 2];
        let verdict = if median <= target {
            "ok"
        } else {
            "OVER TARGET"
        };
        failed |= median > target;
        println!(
            "masters list -o json, {count:>4} agents: median {:>7.1} ms  min {:>7.1} ms  max {:>7.1} ms  (target {} ms: {verdict})",
            ms(median),
            ms(times[0]),
            ms(times[RUNS - 1]),
            target.as_millis()
        );
    }
    if failed {
        std::process::exit(1);
    }
}

fn run_once(inventory: &std::path::Path, count: usize) -> Duration {
    let start = Instant::now();
    let output = Command::new(env!("CARGO_BIN_EXE_bbctl"))
        .args([
            "--inventory",
            inventory.to_str().unwrap(),
            "masters",
            "list",
            "-o",
            "json",
        ])
        .stdin(Stdio::null())
        .output()
        .expect("run bbctl");
    let elapsed = start.elapsed();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&output.stdout).expect("JSON rows");
    assert_eq!(rows.len(), count);
    elapsed
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
