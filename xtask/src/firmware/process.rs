//! A child process whose output lines the firmware check waits on, killed when dropped (so
//! every path, failures included, stops QEMU and the server).

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread;
use std::time::Instant;

/// A running child and the lines it printed (stdout and stderr), in arrival order.
pub(crate) struct Running {
    name: &'static str,
    child: Child,
    lines: Receiver<String>,
    /// Every line taken so far, for the checks that look back.
    pub(crate) seen: Vec<String>,
}

impl Running {
    /// Starts `command` with its output captured.
    pub(crate) fn spawn(name: &'static str, mut command: Command) -> Result<Running, String> {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start {name} ({command:?}): {e}"))?;
        let (tx, lines) = mpsc::channel();
        if let Some(out) = child.stdout.take() {
            forward(out, tx.clone());
        }
        if let Some(err) = child.stderr.take() {
            forward(err, tx);
        }
        Ok(Running {
            name,
            child,
            lines,
            seen: Vec::new(),
        })
    }

    /// Waits for a line for which `wanted` is true, printing every line on the way; fails
    /// at `deadline` or when the process ends first.
    pub(crate) fn expect(
        &mut self,
        what: &str,
        deadline: Instant,
        wanted: impl Fn(&str) -> bool,
    ) -> Result<String, String> {
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    println!("  [{}] {line}", self.name);
                    self.seen.push(line.clone());
                    if wanted(&line) {
                        return Ok(line);
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    return Err(format!("{}: timed out waiting for {what}", self.name))
                }
                Err(RecvTimeoutError::Disconnected) => {
                    let status = self.child.wait().map(|s| s.to_string());
                    return Err(format!(
                        "{} ended ({}) before {what}",
                        self.name,
                        status.unwrap_or_else(|e| e.to_string())
                    ));
                }
            }
        }
    }

    /// Like [`Running::expect`], but a line already taken counts too.
    pub(crate) fn expect_seen(
        &mut self,
        what: &str,
        deadline: Instant,
        wanted: impl Fn(&str) -> bool,
    ) -> Result<String, String> {
        match self.seen.iter().find(|line| wanted(line)) {
            Some(line) => Ok(line.clone()),
            None => self.expect(what, deadline, wanted),
        }
    }

    /// Kills the process and waits for it.
    pub(crate) fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop();
    }
}

fn forward(stream: impl Read + Send + 'static, tx: Sender<String>) {
    thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
}
