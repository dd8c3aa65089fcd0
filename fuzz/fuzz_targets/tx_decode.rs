//! `Transaction::decode` never panics, and whatever it accepts re-encodes to the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use parex_core::tx::{AccessList, Transaction, MAX_ENCODED_LEN};

fuzz_target!(|data: &[u8]| {
    let mut list = AccessList::new();
    if let Ok(tx) = Transaction::decode(data, &mut list) {
        let mut buf = [0u8; MAX_ENCODED_LEN];
        let n = tx.encode(&mut buf);
        assert_eq!(&buf[..n], data);
    }
});
