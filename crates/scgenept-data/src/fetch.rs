//! `scgenept data fetch`: the real GEARS datasets from Harvard Dataverse, as GEARS 0.0.2 downloads
//! them (one zip per dataset, unpacked to `<dir>/<name>/perturb_processed.h5ad`). Resumable
//! (HTTP Range on a `.part` file), checked against the MD5 Dataverse publishes for the file (or a
//! SHA-256 the user pins), and unpacked atomically: the dataset directory appears complete or not
//! at all.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use sha2::Digest;

use crate::error::{DataError, Result};
use crate::files::write_atomic;

/// Public Dataverse server; overridable (tests use a loopback server).
pub const DATAVERSE: &str = "https://dataverse.harvard.edu";

/// GEARS' datasets and their Dataverse file ids (GEARS' `PertData.load`; the two Replogle files
/// are GEARS' filtered versions of the essential-gene screens, in the same zip layout).
pub const DATASETS: [(&str, u64); 5] = [
    ("norman", 6154020),
    ("adamson", 6154417),
    ("dixit", 6154416),
    ("replogle_k562_essential", 7458695),
    ("replogle_rpe1_essential", 7458694),
];

/// The dataset names, for messages: `norman, adamson, …`.
pub fn dataset_names() -> String {
    DATASETS.map(|(n, _)| n).join(", ")
}

pub fn file_id(name: &str) -> Result<u64> {
    DATASETS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, id)| *id)
        .ok_or_else(|| {
            DataError::new(
                "data fetch",
                format!(
                    "unknown dataset '{name}'; choose one of {}",
                    dataset_names()
                ),
            )
        })
}

/// What to fetch and where.
pub struct FetchRequest {
    pub name: String,
    pub dir: PathBuf,
    pub base_url: String,
    /// A SHA-256 the zip must have (overrides nothing: both checks run when both are known).
    pub sha256: Option<String>,
    /// Replace an existing dataset directory.
    pub force: bool,
}

/// What happened.
#[derive(Debug, serde::Serialize)]
pub struct FetchReport {
    pub dataset_dir: PathBuf,
    pub h5ad: PathBuf,
    pub bytes: u64,
    pub resumed_from: u64,
    pub md5_checked: bool,
    pub sha256: String,
    pub url: String,
}

fn http_err(url: &str, e: ureq::Error) -> DataError {
    DataError::new(
        url,
        format!(
            "download failed ({e}); check the network and run the same command again — it resumes"
        ),
    )
}

/// The MD5 Dataverse publishes for a file (`/api/files/{id}` → `data.dataFile.md5`), if any.
fn published_md5(base: &str, id: u64) -> Option<String> {
    let url = format!("{base}/api/files/{id}");
    let text = ureq::get(&url).call().ok()?.into_string().ok()?;
    let body: serde_json::Value = serde_json::from_str(&text).ok()?;
    let file = &body["data"]["dataFile"];
    file["md5"]
        .as_str()
        .or_else(|| {
            (file["checksum"]["type"] == "MD5")
                .then(|| file["checksum"]["value"].as_str())
                .flatten()
        })
        .map(str::to_lowercase)
}

/// Downloads (resuming), verifies and unpacks. `progress(done, total)` is called as bytes arrive.
pub fn fetch(
    req: &FetchRequest,
    progress: &mut dyn FnMut(u64, Option<u64>),
) -> Result<FetchReport> {
    let id = file_id(&req.name)?;
    let target = req.dir.join(&req.name);
    if target.exists() && !req.force {
        return Err(DataError::at(
            &target,
            "already exists; use --force to download it again",
        ));
    }
    std::fs::create_dir_all(&req.dir).map_err(|e| DataError::at(&req.dir, e.to_string()))?;
    let url = format!("{}/api/access/datafile/{id}", req.base_url);
    let part = req.dir.join(format!(".{}.zip.part", req.name));
    let md5 = published_md5(&req.base_url, id);
    let got = download(&url, &part, progress)?;
    let sums = verify(&url, &part, md5.as_deref(), req.sha256.as_deref())?;
    let manifest = serde_json::json!({
        "dataset": req.name, "url": url, "bytes": got.bytes, "md5": sums.md5,
        "sha256": sums.sha256, "md5_published": md5,
        "fetched_by": format!("scgenept {}", env!("CARGO_PKG_VERSION")),
    });
    install(req, &part, &target, &manifest)?;
    let _ = std::fs::remove_file(&part);
    Ok(FetchReport {
        h5ad: target.join("perturb_processed.h5ad"),
        dataset_dir: target,
        bytes: got.bytes,
        resumed_from: got.resumed_from,
        md5_checked: md5.is_some(),
        sha256: sums.sha256,
        url,
    })
}

/// What arrived: all bytes of the file, and where this download took over from an earlier one.
struct Downloaded {
    bytes: u64,
    resumed_from: u64,
}

/// Downloads `url` into `part`, continuing a partial file with an HTTP range request.
fn download(
    url: &str,
    part: &Path,
    progress: &mut dyn FnMut(u64, Option<u64>),
) -> Result<Downloaded> {
    let mut have = std::fs::metadata(part).map(|m| m.len()).unwrap_or(0);
    let mut call = ureq::get(url);
    if have > 0 {
        call = call.set("Range", &format!("bytes={have}-"));
    }
    let resp = call.call().map_err(|e| http_err(url, e))?;
    let resumed = resp.status() == 206;
    if !resumed {
        have = 0;
    }
    let remaining: Option<u64> = resp.header("Content-Length").and_then(|v| v.parse().ok());
    let total = remaining.map(|r| r + have);
    let mut out = std::fs::OpenOptions::new()
        .create(true)
        .append(resumed)
        .write(true)
        .truncate(!resumed)
        .open(part)
        .map_err(|e| DataError::at(part, e.to_string()))?;
    let mut reader = resp.into_reader();
    let mut buf = vec![0u8; 1 << 20];
    let mut done = have;
    progress(done, total);
    loop {
        let n = reader.read(&mut buf).map_err(|e| {
            DataError::new(url, format!("connection lost after {done} bytes ({e}); run the same command again to resume"))
        })?;
        if n == 0 {
            break;
        }
        out.write_all(&buf[..n])
            .map_err(|e| DataError::at(part, e.to_string()))?;
        done += n as u64;
        progress(done, total);
    }
    out.flush()
        .map_err(|e| DataError::at(part, e.to_string()))?;
    if let Some(t) = total.filter(|t| done < *t) {
        return Err(DataError::new(
            url,
            format!("only {done} of {t} bytes arrived; run the same command again to resume"),
        ));
    }
    Ok(Downloaded {
        bytes: done,
        resumed_from: have,
    })
}

/// The downloaded file's checksums.
struct Checksums {
    md5: String,
    sha256: String,
}

/// Checks `part` against the published MD5 and the SHA-256 the user pinned; a mismatch removes
/// the download.
fn verify(url: &str, part: &Path, md5: Option<&str>, sha256: Option<&str>) -> Result<Checksums> {
    let mut f = std::fs::File::open(part).map_err(|e| DataError::at(part, e.to_string()))?;
    let (mut m, mut s) = (md5::Context::new(), sha2::Sha256::new());
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f
            .read(&mut buf)
            .map_err(|e| DataError::at(part, e.to_string()))?;
        if n == 0 {
            break;
        }
        m.consume(&buf[..n]);
        s.update(&buf[..n]);
    }
    let got_md5 = format!("{:x}", m.finalize());
    let got_sha = format!("{:x}", s.finalize());
    let bad = |what: &str, want: &str, got: &str| {
        let _ = std::fs::remove_file(part);
        DataError::new(url, format!("{what} mismatch (expected {want}, got {got}); the download was removed — run again"))
    };
    if let Some(want) = md5 {
        if want != got_md5 {
            return Err(bad("MD5", want, &got_md5));
        }
    }
    if let Some(want) = sha256 {
        if want.to_lowercase() != got_sha {
            return Err(bad("SHA-256", want, &got_sha));
        }
    }
    Ok(Checksums {
        md5: got_md5,
        sha256: got_sha,
    })
}

/// Unpacks `part` next to `target`, writes `FETCHED.json` into the dataset directory, and moves
/// it into place.
fn install(
    req: &FetchRequest,
    part: &Path,
    target: &Path,
    manifest: &serde_json::Value,
) -> Result<()> {
    let staging = req
        .dir
        .join(format!(".{}.unpack-{}", req.name, std::process::id()));
    let _ = std::fs::remove_dir_all(&staging);
    let unpacked = unpack(part, &staging).inspect_err(|_| {
        let _ = std::fs::remove_dir_all(&staging);
    })?;
    let h5 = find_file(&unpacked, "perturb_processed.h5ad").ok_or_else(|| {
        let _ = std::fs::remove_dir_all(&staging);
        DataError::at(
            part,
            "the archive holds no perturb_processed.h5ad; is this a GEARS dataset?",
        )
    })?;
    let data_dir = h5.parent().expect("a file has a parent").to_path_buf();
    write_atomic(
        &data_dir.join("FETCHED.json"),
        serde_json::to_string_pretty(manifest)
            .expect("json")
            .as_bytes(),
    )
    .map_err(|e| DataError::at(&data_dir, e.to_string()))?;
    if target.exists() {
        std::fs::remove_dir_all(target).map_err(|e| DataError::at(target, e.to_string()))?;
    }
    std::fs::rename(&data_dir, target).map_err(|e| DataError::at(target, e.to_string()))?;
    let _ = std::fs::remove_dir_all(&staging);
    Ok(())
}

fn unpack(zip_path: &Path, into: &Path) -> Result<PathBuf> {
    let file = std::fs::File::open(zip_path).map_err(|e| DataError::at(zip_path, e.to_string()))?;
    let mut archive = zip::ZipArchive::new(file).map_err(|e| {
        DataError::at(
            zip_path,
            format!("not a readable zip ({e}); delete it and run again"),
        )
    })?;
    for i in 0..archive.len() {
        let mut entry = archive
            .by_index(i)
            .map_err(|e| DataError::at(zip_path, e.to_string()))?;
        let Some(rel) = entry.enclosed_name() else {
            return Err(DataError::at(
                zip_path,
                format!("unsafe path in archive: {}", entry.name()),
            ));
        };
        let path = into.join(rel);
        if entry.is_dir() {
            std::fs::create_dir_all(&path).map_err(|e| DataError::at(&path, e.to_string()))?;
            continue;
        }
        if let Some(p) = path.parent() {
            std::fs::create_dir_all(p).map_err(|e| DataError::at(p, e.to_string()))?;
        }
        let mut out =
            std::fs::File::create(&path).map_err(|e| DataError::at(&path, e.to_string()))?;
        std::io::copy(&mut entry, &mut out).map_err(|e| DataError::at(&path, e.to_string()))?;
    }
    Ok(into.to_path_buf())
}

fn find_file(dir: &Path, name: &str) -> Option<PathBuf> {
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let p = entry.path();
        if p.is_dir() {
            if let Some(f) = find_file(&p, name) {
                return Some(f);
            }
        } else if p.file_name().is_some_and(|n| n == name) {
            return Some(p);
        }
    }
    None
}
