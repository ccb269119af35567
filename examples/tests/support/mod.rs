//! What the process-level tests share: waiting for a demo process to print its URL, and reading
//! its stderr log for failure messages.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::Child;
use std::time::Duration;

/// Waits (up to 60 s) for the first line a spawned demo prints on its piped stdout, and keeps
/// draining the rest so that the demo never writes to a closed pipe. If no line comes, the
/// child is killed and reaped, and the error quotes its stderr `log`.
pub(crate) fn first_line(child: &mut Child, name: &str, log: &Path) -> Result<String, String> {
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        let mut first = String::new();
        let _ = tx.send(reader.read_line(&mut first).map(|_| first));
        let _ = std::io::copy(&mut reader, &mut std::io::sink());
    });
    match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(Ok(line)) if !line.is_empty() => Ok(line),
        other => {
            let _ = child.kill();
            let status = child.wait().map(|s| s.to_string()).unwrap_or_default();
            Err(format!(
                "{name} did not print its URL ({other:?}, {status}); its stderr:\n{}",
                read_log(log)
            ))
        }
    }
}

/// The whole of a log file, or nothing if it cannot be read.
pub(crate) fn read_log(path: &Path) -> String {
    let mut s = String::new();
    let _ = File::open(path).and_then(|mut f| f.read_to_string(&mut s));
    s
}
