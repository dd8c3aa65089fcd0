//! Sample contracts end to end: methods, reverts, storage and logs.

use parex::core::contracts::{amm, dao, depin, game, nft, token, Sample};
use parex::core::receipt::Status;
use parex::core::Address;

use super::*;

#[test]
fn token_transfers_mints_and_reverts() {
    let w = world(
        vec![(C0, code(Sample::Token))],
        &[
            (C0, token::OWNER, ALICE.0),
            (C0, token::TOTAL_SUPPLY, 1000),
            (C0, token::balance_slot(ALICE.0), 1000),
        ],
    );
    let txs = sequenced(vec![
        call(ALICE, 0, C0, 0, &[token::TRANSFER, BOB.0, 300]),
        call(BOB, 0, C0, 0, &[token::TRANSFER, CAROL.0, 301]),
        call(BOB, 0, C0, 0, &[token::MINT, BOB.0, 50]),
        call(ALICE, 0, C0, 0, &[token::MINT, BOB.0, 50]),
        call(BOB, 0, C0, 0, &[token::TRANSFER, CAROL.0, 350]),
        call(ALICE, 0, C0, 0, &[token::TRANSFER, ALICE.0, 100]),
        call(CAROL, 0, C0, 0, &[7]),
        call(ALICE, 0, C0, 0, &[token::TRANSFER, BOB.0, 701]),
        call(CAROL, 0, C0, 0, &[token::TRANSFER, ALICE.0, 0]),
    ]);
    let (r, s) = run(&w, &txs);
    use Status::*;
    assert_status(
        &r,
        &[
            (Success, 0),
            (Reverted, 1),
            (Reverted, 2),
            (Success, 0),
            (Success, 0),
            (Success, 0),
            (Reverted, 0xff),
            (Reverted, 1),
            (Success, 0),
        ],
    );
    assert_eq!((r[0].logs, r[0].logs_digest), (1, log_digest(&[(C0, 1, 300)])));
    assert_eq!((r[3].logs, r[3].logs_digest), (1, log_digest(&[(C0, 2, 50)])));
    let bal = |a: Address| s.slot(C0, token::balance_slot(a.0));
    assert_eq!((bal(ALICE), bal(BOB), bal(CAROL)), (700, 0, 350));
    assert_eq!(s.slot(C0, token::TOTAL_SUPPLY), 1050);
    assert_eq!(bal(ALICE) + bal(BOB) + bal(CAROL), s.slot(C0, token::TOTAL_SUPPLY));
    assert_eq!(s.slot(C0, token::OWNER), ALICE.0);
    for a in [ALICE, BOB, CAROL] {
        assert_eq!(s.bal(a), B - fees(&txs, &r, a), "{a}");
    }
    assert_eq!((s.nonce(ALICE), s.nonce(BOB), s.nonce(CAROL)), (4, 3, 2));
}

#[test]
fn amm_swaps_follow_the_constant_product_formula() {
    let (rn, rt) = (1_000_000u64, 2_000_000u64);
    let w = world(
        vec![(C0, code(Sample::Amm))],
        &[
            (C0, amm::RESERVE_NATIVE, rn),
            (C0, amm::RESERVE_TOKEN, rt),
            (C0, amm::balance_slot(ALICE.0), 10_000),
        ],
    );
    let w = with_account(w, C0, rn, 0);
    let out0 = amm::quote(1_000, rn, rt).unwrap();
    let (rn1, rt1) = (rn + 1_000, rt - out0);
    let out1 = amm::quote(500, rt1, rn1).unwrap();
    let (rn2, rt2) = (rn1 - out1, rt1 + 500);
    let out2 = amm::quote(2_000, rn2, rt2).unwrap();
    assert!(out0 > 0 && out1 > 0 && out2 > 0);
    let txs = sequenced(vec![
        call(ALICE, 0, C0, 1_000, &[amm::SWAP, 0, 0]),
        call(ALICE, 0, C0, 0, &[amm::SWAP, 1, 0, 500]),
        call(BOB, 0, C0, 2_000, &[amm::SWAP, 0, out2 + 1]), // min_out not met
        call(BOB, 0, C0, 0, &[amm::SWAP, 1, 0, 1]),         // holds no tokens
        call(BOB, 0, C0, 0, &[amm::SWAP, 2, 0, 1]),         // bad direction
        call(BOB, 0, C0, 2_000, &[amm::SWAP, 0, out2]),     // min_out met exactly
        call(CAROL, 0, C0, 0, &[amm::SWAP + 1]),            // unknown method
    ]);
    let (r, s) = run(&w, &txs);
    use Status::*;
    assert_status(
        &r,
        &[
            (Success, 0),
            (Success, 0),
            (Reverted, 1),
            (Reverted, 2),
            (Reverted, 3),
            (Success, 0),
            (Reverted, 0xff),
        ],
    );
    assert_eq!(r[0].logs_digest, log_digest(&[(C0, 3, out0)]));
    assert_eq!(r[1].logs_digest, log_digest(&[(C0, 4, out1)]));
    assert_eq!(r[5].logs_digest, log_digest(&[(C0, 3, out2)]));
    let (rn3, rt3) = (rn2 + 2_000, rt2 - out2);
    assert_eq!((s.slot(C0, amm::RESERVE_NATIVE), s.slot(C0, amm::RESERVE_TOKEN)), (rn3, rt3));
    // The product never shrinks.
    for (a, b) in [((rn, rt), (rn1, rt1)), ((rn1, rt1), (rn2, rt2)), ((rn2, rt2), (rn3, rt3))] {
        assert!(b.0 as u128 * b.1 as u128 >= a.0 as u128 * a.1 as u128);
    }
    assert_eq!(s.slot(C0, amm::balance_slot(ALICE.0)), 10_000 + out0 - 500);
    assert_eq!(s.slot(C0, amm::balance_slot(BOB.0)), out2);
    // Native coin: the pool's balance tracks its native reserve here.
    assert_eq!(s.bal(C0), rn3);
    assert_eq!(s.bal(ALICE), B - 1_000 + out1 - fees(&txs, &r, ALICE));
    assert_eq!(s.bal(BOB), B - 2_000 - fees(&txs, &r, BOB));
}

#[test]
fn nft_ids_increment_until_sold_out() {
    let w = world(vec![(C0, code(Sample::Nft))], &[(C0, nft::MAX_SUPPLY, 3)]);
    let txs = sequenced(vec![
        call(ALICE, 0, C0, 0, &[nft::MINT]),
        call(BOB, 0, C0, 0, &[nft::MINT]),
        call(ALICE, 0, C0, 0, &[nft::MINT]),
        call(CAROL, 0, C0, 0, &[nft::MINT]),
        call(BOB, 0, C0, 0, &[7]),
    ]);
    let (r, s) = run(&w, &txs);
    use Status::*;
    assert_status(&r, &[(Success, 0), (Success, 1), (Success, 2), (Reverted, 1), (Reverted, 0xff)]);
    for (i, (id, owner)) in [(0u64, ALICE), (1, BOB), (2, ALICE)].into_iter().enumerate() {
        assert_eq!(s.slot(C0, nft::owner_slot(id)), owner.0);
        assert_eq!(r[i].logs_digest, log_digest(&[(C0, 5, id)]));
    }
    assert_eq!(s.slot(C0, nft::owner_slot(3)), 0);
    assert_eq!(s.slot(C0, nft::NEXT_ID), 3);
    let count = |a: Address| s.slot(C0, nft::count_slot(a.0));
    assert_eq!((count(ALICE), count(BOB), count(CAROL)), (2, 1, 0));
}

#[test]
fn dao_one_vote_per_address_and_tallies() {
    let w = world(vec![(C0, code(Sample::Dao))], &[]);
    let vote = |from, p, support| call(from, 0, C0, 0, &[dao::VOTE, p, support]);
    let txs = sequenced(vec![
        vote(ALICE, 1, 1),
        vote(BOB, 1, 0),
        vote(ALICE, 1, 0), // already voted on 1
        vote(CAROL, 1, 2), // bad support
        vote(CAROL, 2, 1),
        vote(ALICE, 2, 1),
        vote(CAROL, 1, 1),
    ]);
    let (r, s) = run(&w, &txs);
    use Status::*;
    assert_status(
        &r,
        &[
            (Success, 0),
            (Success, 0),
            (Reverted, 1),
            (Reverted, 2),
            (Success, 0),
            (Success, 0),
            (Success, 0),
        ],
    );
    assert_eq!(r[0].logs_digest, log_digest(&[(C0, 6, 1)]));
    let tally = |p, sup| s.slot(C0, dao::tally_slot(p, sup));
    assert_eq!((tally(1, 1), tally(1, 0), tally(2, 1), tally(2, 0)), (2, 1, 2, 0));
    let voted = |p, a: Address| s.slot(C0, dao::voted_slot(p, a.0));
    assert_eq!([voted(1, ALICE), voted(1, BOB), voted(1, CAROL), voted(2, BOB)], [1, 1, 1, 0]);
}

#[test]
fn depin_reports_and_pro_rata_claims() {
    let w = world(vec![(C0, code(Sample::Depin))], &[]);
    let c = |from, value, args: &[u64]| call(from, 0, C0, value, args);
    let txs = sequenced(vec![
        c(ALICE, 1_000, &[depin::FUND]),
        c(ALICE, 0, &[depin::REPORT, 30]),
        c(BOB, 0, &[depin::REPORT, 10]),
        c(ALICE, 0, &[depin::CLAIM]), // 1000 * 30 / 40
        c(CAROL, 0, &[depin::CLAIM]), // nothing reported
        c(BOB, 0, &[depin::CLAIM]),   // 250 * 10 / 10
        c(ALICE, 0, &[depin::CLAIM]), // already claimed
        c(CAROL, 0, &[depin::REPORT, 5]),
    ]);
    let (r, s) = run(&w, &txs);
    use Status::*;
    assert_status(
        &r,
        &[
            (Success, 0),
            (Success, 0),
            (Success, 0),
            (Success, 0),
            (Reverted, 1),
            (Success, 0),
            (Reverted, 1),
            (Success, 0),
        ],
    );
    assert_eq!(r[1].logs_digest, log_digest(&[(C0, 7, 30)]));
    assert_eq!(r[3].logs_digest, log_digest(&[(C0, 8, 750)]));
    assert_eq!(r[5].logs_digest, log_digest(&[(C0, 8, 250)]));
    assert_eq!(s.bal(C0), 0);
    assert_eq!(s.bal(ALICE), B - 1_000 + 750 - fees(&txs, &r, ALICE));
    assert_eq!(s.bal(BOB), B + 250 - fees(&txs, &r, BOB));
    assert_eq!(s.slot(C0, depin::TOTAL_WORK), 5);
    let work = |a: Address| s.slot(C0, depin::work_slot(a.0));
    assert_eq!((work(ALICE), work(BOB), work(CAROL)), (0, 0, 5));
}

#[test]
fn game_moves_turns_and_board_edges() {
    let w = world(vec![(C0, code(Sample::Game))], &[(C0, game::turn_slot(3), game::MAX_TURNS - 1)]);
    let mv = |from, m, step| call(from, 0, C0, 0, &[game::MOVE, m, step]);
    let txs = sequenced(vec![
        mv(ALICE, 1, 3),
        mv(ALICE, 1, 2),
        mv(BOB, 1, game::BOARD), // off the board
        mv(BOB, 1, game::BOARD - 1),
        mv(ALICE, 1, u64::MAX), // position + step overflows: a fault, not a revert
        mv(ALICE, 2, 1),
        mv(BOB, 1, 1),   // reaches BOARD: off the board
        mv(CAROL, 3, 1), // the last turn of match 3
        mv(ALICE, 3, 1), // match 3 is over
    ]);
    let (r, s) = run(&w, &txs);
    use Status::*;
    assert_status(
        &r,
        &[
            (Success, 0),
            (Success, 0),
            (Reverted, 1),
            (Success, 0),
            (ArithmeticFault, 0),
            (Success, 0),
            (Reverted, 1),
            (Success, 0),
            (Reverted, 2),
        ],
    );
    assert_eq!(r[0].logs_digest, log_digest(&[(C0, 9, 3)]));
    assert_eq!(r[1].logs_digest, log_digest(&[(C0, 9, 5)]));
    let pos = |m, a: Address| s.slot(C0, game::position_slot(m, a.0));
    assert_eq!(
        (pos(1, ALICE), pos(1, BOB), pos(2, ALICE), pos(3, CAROL)),
        (5, game::BOARD - 1, 1, 1)
    );
    let turn = |m| s.slot(C0, game::turn_slot(m));
    assert_eq!((turn(1), turn(2), turn(3)), (3, 1, game::MAX_TURNS));
    assert_eq!(r[4].gas_used, GAS);
}
