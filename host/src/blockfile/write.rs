//! Writing: the documents' text, one account, contract, storage word, transaction or
//! state word per line, and [`write_atomic`].

use std::fs;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use parex_core::contracts::{Sample, MAX_CODE_LEN};
use parex_core::state::StateEntry;
use parex_core::tx::{Transaction, TxKind};
use parex_core::Hash32;
use parex_offload::hex::hash_hex;
use serde::Serialize;

use super::schema::{
    AccessJson, AccountJson, ContractJson, EntryJson, KindJson, StorageJson, TxJson,
};
use super::values::{Addr, Amount, HexBytes, Slot, Word};
use crate::workload::World;

/// The sample contract whose code is `code`, if any.
pub fn sample_of(code: &[u8]) -> Option<Sample> {
    Sample::ALL.into_iter().find(|s| {
        let mut buf = [0u8; MAX_CODE_LEN];
        s.build(&mut buf).is_ok_and(|n| &buf[..n] == code)
    })
}

fn lines<T: Serialize>(out: &mut String, key: &str, items: &[T], last: bool) {
    out.push_str(&format!("  \"{key}\": ["));
    for (i, item) in items.iter().enumerate() {
        out.push_str(if i == 0 { "\n    " } else { ",\n    " });
        // Serializing these plain structs to a string cannot fail.
        out.push_str(&serde_json::to_string(item).unwrap_or_default());
    }
    out.push_str(if items.is_empty() { "]" } else { "\n  ]" });
    out.push_str(if last { "\n" } else { ",\n" });
}

/// The genesis document of `world`, one account, contract or storage word per line.
pub fn genesis_to_json(world: &World) -> String {
    let accounts: Vec<AccountJson> = world
        .accounts
        .iter()
        .map(|a| AccountJson {
            address: Addr(a.addr.0),
            balance: Amount(a.balance),
            nonce: Amount(a.nonce),
        })
        .collect();
    let contracts: Vec<ContractJson> = world
        .contracts
        .iter()
        .map(|(a, code)| ContractJson {
            address: Addr(a.0),
            name: sample_of(code).map(|s| s.name().to_string()),
            code: HexBytes(code.clone()),
        })
        .collect();
    let storage: Vec<StorageJson> = world
        .storage
        .iter()
        .map(|s| StorageJson { address: Addr(s.addr.0), slot: Slot(s.slot), value: Word(s.value) })
        .collect();
    let mut out = format!("{{\n  \"beneficiary\": \"{:#x}\",\n", world.beneficiary.0);
    if let Some(n) = world.shards {
        out.push_str(&format!("  \"shards\": {n},\n"));
    }
    lines(&mut out, "accounts", &accounts, false);
    lines(&mut out, "contracts", &contracts, false);
    lines(&mut out, "storage", &storage, true);
    out.push_str("}\n");
    out
}

/// The JSON form of one transaction.
pub fn tx_to_json(tx: &Transaction) -> TxJson {
    let (kind, args) = match &tx.kind {
        TxKind::Transfer { .. } => (KindJson::Transfer, None),
        // A delivered call exists only inside a sharded run, never in a block file; it
        // reads back as the call it carries.
        TxKind::Call { args, .. } | TxKind::Delivered { args, .. } => {
            (KindJson::Call, Some(args.iter().map(|a| Word(*a)).collect()))
        }
    };
    TxJson {
        from: Addr(tx.from.0),
        nonce: Amount(tx.nonce),
        gas_limit: Amount(tx.gas_limit),
        gas_price: Amount(tx.gas_price),
        kind,
        to: Addr(tx.to().0),
        value: Amount(tx.value()),
        args,
        access: tx.access.as_ref().map(|l| {
            l.iter()
                .map(|a| AccessJson {
                    address: Addr(a.key().addr.0),
                    key: a.key().kind.into(),
                    slot: Slot(a.key().slot),
                    write: a.write,
                })
                .collect()
        }),
    }
}

/// The block document for block `number`, one transaction per line.
pub fn block_to_json(number: u64, txs: &[Transaction]) -> String {
    let txs: Vec<TxJson> = txs.iter().map(tx_to_json).collect();
    let mut out = format!("{{\n  \"number\": {number},\n");
    lines(&mut out, "transactions", &txs, true);
    out.push_str("}\n");
    out
}

/// The `--dump-state` document.
pub fn state_to_json(
    number: u64,
    block_hash: &Hash32,
    root: &Hash32,
    state: &[StateEntry],
) -> String {
    let entries: Vec<EntryJson> = state.iter().map(EntryJson::from).collect();
    let mut out = format!(
        "{{\n  \"block_number\": {number},\n  \"block_hash\": \"{}\",\n  \"state_root\": \"{}\",\n",
        hash_hex(block_hash),
        hash_hex(root)
    );
    lines(&mut out, "entries", &entries, true);
    out.push_str("}\n");
    out
}

/// Writes `bytes` to `path` atomically: into a temporary file in the same directory,
/// flushed to disk, then renamed over `path`. On error the temporary file is removed and
/// `path` is untouched.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "not a file name"))?;
    let tmp = dir.join(format!(".{}.tmp.{}", name.to_string_lossy(), std::process::id()));
    let result = (|| {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}
