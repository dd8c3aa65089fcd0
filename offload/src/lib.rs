//! parex-offload placeholder.
#![no_std]
