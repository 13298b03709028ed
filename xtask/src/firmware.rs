//! `cargo xtask firmware`: the Cortex-M firmware in `examples/firmware` booted in QEMU
//! (`mps2-an386`) against `fawkes serve`, through the serial bridge, and its footprint.
//!
//! The check, each step waiting on a line the firmware or the server prints (never a
//! sleep), all of it under one deadline, with QEMU and the server killed on every path:
//! the firmware joins `rooms:lobby`, receives three broadcasts sent over the server's
//! broadcast API and a reply to one of its readings; then the server is killed, the
//! firmware must notice and fail a dial, the server is started again on the same port, and
//! the firmware must reconnect, rejoin and receive a broadcast sent after that.

mod bridge;
mod footprint;
mod process;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use bridge::Bridge;
use footprint::Sections;
use process::Running;

/// The firmware's target (the one `install_toolchain_parts` installs).
const TARGET: &str = crate::EMBEDDED_TARGET;

/// The whole QEMU run may take this long; it takes a few seconds.
const RUN_DEADLINE: Duration = Duration::from_secs(60);

/// The issue's goals: `.text` for codec + session + ws, and RAM, with 4 channels and
/// 1 KiB messages.
const TEXT_GOAL: u64 = 48 * 1024;
const RAM_GOAL: u64 = 16 * 1024;

const TOPIC: &str = "rooms:lobby";

/// The firmware's channel capacity (`CHANNELS` in examples/firmware/src/main.rs).
const CHANNELS: usize = 4;

/// What the run measured.
struct Measured {
    stack_peak: u64,
    stack_size: u64,
    connection_state: u64,
    transmit_buffer: u64,
}

pub(crate) fn firmware() -> Result<(), String> {
    let started = Instant::now();
    crate::install_toolchain_parts()?;
    install_qemu()?;
    crate::run(
        "build the fawkes binary",
        "cargo",
        &["build", "-p", "fawkes", "--bin", "fawkes"],
    )?;
    let root = crate::workspace_root();
    // Where cargo builds (CARGO_TARGET_DIR wins over the firmware's own config, so it is
    // set for the firmware's builds too).
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let firmware_target = target.join("firmware");
    build_firmware(&root.join("examples/firmware"), &firmware_target)?;
    let release = firmware_target.join(format!("{TARGET}/release"));
    let elf = release.join("fawkes-firmware");
    let sections = Sections::read(&elf)?;
    let baseline = Sections::read(&release.join("baseline"))?;
    let fawkes = target.join("debug/fawkes");
    println!("\n==> firmware in QEMU against fawkes serve");
    let run_started = Instant::now();
    let measured = run(&fawkes, &elf, run_started + RUN_DEADLINE)?;
    let run_time = run_started.elapsed();
    print_footprint(&sections, &baseline, &measured);
    println!(
        "\nxtask firmware: passed in {:.1} s (the QEMU run {:.1} s, the rest builds and checks)",
        started.elapsed().as_secs_f64(),
        run_time.as_secs_f64()
    );
    Ok(())
}

/// qemu-system-arm from Debian's packages when it is missing.
fn install_qemu() -> Result<(), String> {
    crate::apt::ensure(
        "qemu-system-arm",
        "qemu-system-arm",
        "`cargo xtask firmware` needs QEMU 7.2+ for Arm",
    )
}

/// Checks and builds the firmware from its own directory, so its `.cargo/config.toml`
/// (target, linker script, target dir) applies: rustfmt, clippy `-D warnings`, then the
/// release build of both binaries (the client and the baseline).
fn build_firmware(dir: &Path, target_dir: &Path) -> Result<(), String> {
    let steps: [(&str, &[&str]); 3] = [
        ("format", &["fmt", "--", "--check"]),
        (
            "clippy",
            &[
                "clippy",
                "--release",
                "--locked",
                "--all-targets",
                "--",
                "-D",
                "warnings",
            ],
        ),
        ("build", &["build", "--release", "--locked"]),
    ];
    for (what, args) in steps {
        println!(
            "\n==> firmware {what}: cargo {} (in examples/firmware)",
            args.join(" ")
        );
        let status = Command::new("cargo")
            .args(args)
            .current_dir(dir)
            .env("CARGO_TARGET_DIR", target_dir)
            .status()
            .map_err(|e| format!("cannot run cargo: {e}"))?;
        if !status.success() {
            return Err(format!("firmware {what} failed ({status})"));
        }
    }
    Ok(())
}

/// The scenario of the module docs.
fn run(fawkes: &Path, elf: &Path, deadline: Instant) -> Result<Measured, String> {
    let (mut server, addr) = serve(fawkes, "127.0.0.1:0", deadline)?;
    let bridge = Bridge::start(addr).map_err(|e| format!("bridge: {e}"))?;
    let mut qemu = Running::spawn("firmware", qemu(elf, &bridge))?;
    let boot = qemu.expect("the boot line", deadline, |l| {
        l.starts_with("firmware: booted")
    })?;
    qemu.expect("the join reply", deadline, |l| {
        l.starts_with("< join reply (ok)")
    })?;
    qemu.expect("the join", deadline, |l| l == format!("* joined {TOPIC}"))?;
    for body in ["one", "two", "three"] {
        let payload = format!(r#"{{"body":"{body}"}}"#);
        broadcast(addr, &payload)?;
        let line = format!("< {TOPIC} new_msg: {payload}");
        qemu.expect(&format!("the broadcast {payload}"), deadline, |l| l == line)?;
    }
    let push = qemu.expect_seen("a reading pushed", deadline, |l| {
        l.starts_with("> reading ")
    })?;
    let push_ref = push
        .rsplit_once("(ref ")
        .and_then(|(_, rest)| rest.strip_suffix(')'))
        .ok_or_else(|| format!("no ref in `{push}`"))?
        .to_owned();
    let reply = format!("< reply to {push_ref} (");
    qemu.expect_seen(&format!("the reply to push {push_ref}"), deadline, |l| {
        l.starts_with(&reply)
    })?;

    println!("  [xtask] killing the server, then starting it again on {addr}");
    server.stop();
    qemu.expect("the disconnect", deadline, |l| {
        l.starts_with("* disconnected")
    })?;
    // A dial while the server is down fails, and the session backs off and dials again.
    qemu.expect("a failed dial", deadline, |l| l == "* no carrier")?;
    let (_server, _) = serve(fawkes, &addr.to_string(), deadline)?;
    qemu.expect("the rejoin", deadline, |l| l == format!("* joined {TOPIC}"))?;
    let payload = r#"{"body":"after the restart"}"#;
    broadcast(addr, payload)?;
    let line = format!("< {TOPIC} new_msg: {payload}");
    qemu.expect("the broadcast after the restart", deadline, |l| l == line)?;
    // One more reading, so the stack figure covers a whole reconnect.
    qemu.expect("a reading after the restart", deadline, |l| {
        l.starts_with("stack: peak")
    })?;
    qemu.stop();

    let (stack_peak, stack_size) = qemu
        .seen
        .iter()
        .filter_map(|l| parse_stack(l))
        .max()
        .ok_or("the firmware printed no stack figure")?;
    // `firmware: booted, connection state N bytes (...), transmit buffer M bytes`.
    let sizes: Vec<u64> = boot
        .split_whitespace()
        .filter_map(|word| word.parse().ok())
        .collect();
    let [connection_state, transmit_buffer] = sizes[..] else {
        return Err(format!("expected two sizes in `{boot}`"));
    };
    Ok(Measured {
        stack_peak,
        stack_size,
        connection_state,
        transmit_buffer,
    })
}

/// Starts `fawkes serve --listen LISTEN` and returns it with the address it prints.
fn serve(fawkes: &Path, listen: &str, deadline: Instant) -> Result<(Running, SocketAddr), String> {
    let mut command = Command::new(fawkes);
    command.args(["serve", "--listen", listen]);
    let mut server = Running::spawn("serve", command)?;
    let line = server.expect("`listening on`", deadline, |l| {
        l.starts_with("listening on ws://")
    })?;
    let addr = line
        .strip_prefix("listening on ws://")
        .and_then(|rest| rest.split('/').next())
        .and_then(|addr| addr.parse().ok())
        .ok_or_else(|| format!("no address in `{line}`"))?;
    Ok((server, addr))
}

fn qemu(elf: &Path, bridge: &Bridge) -> Command {
    let mut command = Command::new("qemu-system-arm");
    command
        .args(["-M", "mps2-an386", "-display", "none", "-monitor", "none"])
        .args(["-serial", &format!("tcp:127.0.0.1:{}", bridge.data_port)])
        .args(["-serial", &format!("tcp:127.0.0.1:{}", bridge.control_port)])
        .args(["-semihosting-config", "enable=on,target=native", "-kernel"])
        .arg(elf);
    command
}

/// `POST /api/broadcast/rooms:lobby/new_msg` with a JSON body; fails unless it is 2xx.
fn broadcast(addr: SocketAddr, payload: &str) -> Result<(), String> {
    let mut http = TcpStream::connect(addr).map_err(|e| format!("broadcast: {e}"))?;
    let _ = http.set_read_timeout(Some(Duration::from_secs(10)));
    let request = format!(
        "POST /api/broadcast/{TOPIC}/new_msg HTTP/1.1\r\nHost: {addr}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n\
         {payload}",
        payload.len()
    );
    let mut response = String::new();
    http.write_all(request.as_bytes())
        .and_then(|()| http.read_to_string(&mut response))
        .map_err(|e| format!("broadcast: {e}"))?;
    let status = response.lines().next().unwrap_or_default();
    if status.starts_with("HTTP/1.1 2") {
        println!("  [xtask] broadcast {payload}: {status}");
        Ok(())
    } else {
        Err(format!(
            "broadcast {payload}: the server answered `{status}`"
        ))
    }
}

/// `stack: peak N of M bytes` as (N, M).
fn parse_stack(line: &str) -> Option<(u64, u64)> {
    let rest = line.strip_prefix("stack: peak ")?;
    let (peak, rest) = rest.split_once(" of ")?;
    let size = rest.strip_suffix(" bytes")?;
    Some((peak.parse().ok()?, size.parse().ok()?))
}

fn print_footprint(s: &Sections, baseline: &Sections, m: &Measured) {
    let kib = |bytes: u64| bytes as f64 / 1024.0;
    let verdict = |value: u64, goal: u64| if value <= goal { "met" } else { "MISSED" };
    let protocol = s.text.saturating_sub(baseline.text);
    let ram = s.static_ram() + m.stack_peak;
    let row = |name: &str, bytes: u64, note: String| {
        println!("  {name:<22}{bytes:>6} B {:>5.1} KiB  {note}", kib(bytes));
    };
    println!(
        "\nfirmware footprint ({TARGET} on mps2-an386; opt-level z, LTO; {CHANNELS} channels, \
         1 KiB messages)"
    );
    row(".text", s.text, "the whole firmware".into());
    row(
        "codec + session + ws",
        protocol,
        format!(
            "the .text fawkes-core adds: less the {} B of the same board without it \
             (bin/baseline.rs); goal <= 48 KiB: {}",
            baseline.text,
            verdict(protocol, TEXT_GOAL)
        ),
    );
    row(".rodata", s.rodata, String::new());
    row(
        "flash in all",
        s.flash(),
        "vectors + .text + .rodata + .data".into(),
    );
    row(".data + .bss", s.static_ram(), String::new());
    row(
        "peak stack",
        m.stack_peak,
        format!(
            "painted; main's frame holds the connection ({} B) and its transmit buffer \
             ({} B); the region is {} B",
            m.connection_state, m.transmit_buffer, m.stack_size
        ),
    );
    row(
        "static RAM + stack",
        ram,
        format!("goal <= 16 KiB: {}", verdict(ram, RAM_GOAL)),
    );
}
