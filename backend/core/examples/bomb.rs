//! Runs one piece of the core on one hostile input, for `bench/bombs.sh` to measure its peak memory from outside
//! (`/usr/bin/time -v`): `bomb analyse FILE EXT`, `bomb m3u FILE`, `bomb cover FILE`, `bomb thumbnail FILE SIZE`.

use std::{path::Path, process::ExitCode};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |n: usize| args.get(n).map(String::as_str).unwrap_or_default();
    let outcome = match arg(0) {
        "analyse" => {
            fermata_core::analysis::analyse(Path::new(arg(1)), arg(2)).map(|a| format!("{} ms", a.duration_ms))
        }
        "m3u" => std::fs::read_to_string(arg(1)).map_err(anyhow::Error::from).map(|text| {
            let parsed = fermata_core::m3u::parse(&text);
            let tails: usize = parsed.items.iter().map(|i| fermata_core::m3u::path_suffixes(&i.location).len()).sum();
            format!("{} items, {tails} tails, a line too long: {}", parsed.items.len(), parsed.too_long)
        }),
        "cover" => std::fs::File::open(arg(1))
            .map_err(anyhow::Error::from)
            .and_then(|f| fermata_core::covers::inspect(f).map_err(anyhow::Error::from))
            .map(|i| format!("{}x{}", i.width, i.height)),
        "thumbnail" => std::fs::File::open(arg(1))
            .map_err(anyhow::Error::from)
            .and_then(|f| {
                fermata_core::covers::thumbnail(f, arg(2).parse().unwrap_or(300)).map_err(anyhow::Error::from)
            })
            .map(|bytes| format!("{} bytes", bytes.len())),
        other => Err(anyhow::anyhow!("unknown kind {other:?}")),
    };
    match outcome {
        Ok(what) => {
            eprintln!("ok: {what}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("refused: {e:#}");
            ExitCode::FAILURE
        }
    }
}
