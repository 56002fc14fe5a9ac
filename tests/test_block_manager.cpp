// Block pool and block manager: allocation, prefix cache, reservations, swap, fork/CoW, CSR.
#include <catch2/catch.hpp>

#include <array>

#include <kvsched/core/block_manager.hpp>

using namespace kvsched;

namespace {
RequestSpec spec(RequestId id, std::int32_t prompt) {
  RequestSpec s;
  s.id = id;
  s.prompt_tokens = prompt;
  s.max_tokens = 16;
  return s;
}
}  // namespace

TEST_CASE("block pool: allocate until empty, free, double free throws", "[block_pool]") {
  BlockPool pool(3);
  REQUIRE(pool.num_free() == 3);
  auto a = pool.allocate(), b = pool.allocate(), c = pool.allocate();
  REQUIRE((a && b && c));
  CHECK(*a == 0);
  CHECK(*b == 1);
  CHECK_FALSE(pool.allocate().has_value());
  pool.release(*b);
  CHECK(pool.num_free() == 1);
  CHECK(*pool.allocate() == *b);
  pool.release(*a);
  CHECK_THROWS_AS(pool.release(*a), std::logic_error);
  pool.check();
}

TEST_CASE("block pool: cached blocks are evicted least recently freed first", "[block_pool]") {
  BlockPool pool(3);
  auto a = *pool.allocate(), b = *pool.allocate(), c = *pool.allocate();
  REQUIRE(pool.set_hash(a, 11));
  REQUIRE(pool.set_hash(b, 22));
  CHECK_FALSE(pool.set_hash(c, 11));  // content already cached in a
  pool.release(b);                    // LRU: b
  pool.release(a);                    // LRU: b, a
  CHECK(pool.num_free() == 2);
  CHECK(pool.num_cached_free() == 2);
  CHECK(pool.lookup(22) == b);
  // A hit takes b out of the free queue; the next allocation evicts a.
  pool.acquire_cached(b);
  CHECK(pool.num_free() == 1);
  auto d = *pool.allocate();
  CHECK(d == a);
  CHECK_FALSE(pool.lookup(11).has_value());
  CHECK(pool.block_hash(d) == 0);
  pool.check();
}

TEST_CASE("block pool: evicted hashes are never found again, through thousands of evictions and map rebuilds", "[block_pool]") {
  // Evictions leave their map entries stale (BlockPool::forget) and the map is rebuilt once
  // stale entries outnumber live ones (after about 1,000 here): lookups must see only the
  // hashes blocks hold now, and a hash evicted from one block may be cached again in another.
  BlockPool pool(4);
  std::uint64_t next_hash = 1;
  for (int round = 0; round < 1500; ++round) {
    std::array<BlockId, 4> got{};
    for (auto& b : got) b = *pool.allocate();  // evicts the 4 cached blocks of the last round
    CHECK(pool.num_free() == 0);
    if (round > 0) {
      for (std::uint64_t h = next_hash - 4; h < next_hash; ++h) CHECK_FALSE(pool.lookup(h).has_value());
    }
    // Every 10th round re-caches round 0's first hash, evicted long ago, in a different block.
    const bool reuse = round > 0 && round % 10 == 0;
    for (std::size_t i = 0; i < got.size(); ++i) REQUIRE(pool.set_hash(got[i], reuse && i == 3 ? 1 : next_hash + i));
    CHECK_FALSE(pool.set_hash(got[0], next_hash + 7));  // already hashed
    for (std::size_t i = 0; i < got.size(); ++i) CHECK(pool.lookup(reuse && i == 3 ? 1 : next_hash + i) == got[i]);
    next_hash += 4;
    for (BlockId b : got) pool.release(b);
    if (round % 100 == 0) pool.check();
  }
  pool.check();
  pool.clear_cache();
  CHECK(pool.num_cached_free() == 0);
  CHECK_FALSE(pool.lookup(next_hash - 1).has_value());
  pool.check();
}

TEST_CASE("block manager: reservations are promises that available() respects", "[block_manager]") {
  BlockManager bm(4, 10, 0, false);
  REQUIRE(bm.set_reservation(1, 6));  // promise 6 blocks, none held
  CHECK(bm.num_promised() == 6);
  CHECK(bm.available() == 4);
  CHECK_FALSE(bm.set_reservation(2, 5));  // only 4 unpromised
  REQUIRE(bm.set_reservation(2, 4));
  CHECK(bm.available() == 0);
  // Request 1 grows inside its promise; request 3 (no promise) cannot take anything.
  REQUIRE(bm.allocate_slots(1, 20));  // 5 blocks from its own promise
  CHECK(bm.num_held(1) == 5);
  CHECK(bm.unused_reservation(1) == 1);
  CHECK(bm.available() == 0);
  CHECK_FALSE(bm.allocate_slots(3, 1));
  CHECK_FALSE((bm.has(3) && bm.num_held(3) > 0));
  // Growth beyond the promise needs available() blocks.
  REQUIRE(bm.allocate_slots(1, 24));  // 6th block: last of the promise
  CHECK_FALSE(bm.allocate_slots(1, 25));
  // Lending: 2 of request 2's promise move to request 5.
  bm.transfer_reservation(2, 5, 2);
  CHECK(bm.unused_reservation(2) == 2);
  CHECK(bm.unused_reservation(5) == 2);
  CHECK_THROWS_AS(bm.transfer_reservation(2, 5, 3), std::logic_error);
  bm.check_invariants();
  bm.free(1);
  bm.free(2);
  bm.free(5);
  CHECK(bm.available() == 10);
  CHECK(bm.num_free_device() == 10);
  bm.check_invariants();
}

TEST_CASE("block manager: floor keeps blocks for others (watermark, global reserve)", "[block_manager]") {
  BlockManager bm(4, 10, 0, false);
  CHECK_FALSE(bm.allocate_slots(1, 40, 0, nullptr, /*floor=*/1));
  CHECK(bm.allocate_slots(1, 36, 0, nullptr, /*floor=*/1));
  CHECK(bm.available() == 1);
}

TEST_CASE("block manager: prefix cache re-hits a freed request's full blocks", "[block_manager][prefix]") {
  BlockManager bm(4, 8, 0, true);
  const RequestSpec a = spec(1, 10);
  REQUIRE(bm.allocate_slots(1, 10));
  bm.commit_computed(a, 10);  // blocks 0, 1 full -> hashed; block 2 partial
  bm.free(1);
  CHECK(bm.num_free_device() == 8);
  CHECK(bm.device_pool().num_cached_free() == 2);
  PrefixHit hit = bm.probe_prefix(a, 10);
  CHECK(hit.blocks == 2);
  CHECK(hit.free_blocks == 2);
  CHECK(bm.acquire_prefix(a, 10) == 8);
  CHECK(bm.num_free_device() == 6);
  // At least one token is always left to compute: 8 tokens = 2 full blocks, only 1 may hit.
  const RequestSpec b = spec(1, 8);
  CHECK(bm.probe_prefix(b, 8).blocks == 1);
  bm.check_invariants();
}

TEST_CASE("block manager: requests with equal content ids share prefix blocks", "[block_manager][prefix]") {
  BlockManager bm(4, 16, 0, true);
  RequestSpec a = spec(1, 16), b = spec(2, 16), c = spec(3, 16);
  a.content_block_tokens = b.content_block_tokens = c.content_block_tokens = 8;
  a.content_ids = {7, 8};
  b.content_ids = {7, 9};
  c.content_ids = {6, 8};
  REQUIRE(bm.allocate_slots(1, 16));
  bm.commit_computed(a, 16);
  CHECK(bm.probe_prefix(b, 16).blocks == 2);  // first 8 tokens equal
  CHECK(bm.probe_prefix(c, 16).blocks == 0);  // differs from the first token
  CHECK(bm.acquire_prefix(b, 16) == 8);
  CHECK(bm.block_table(2)[0] == bm.block_table(1)[0]);
  CHECK(bm.device_pool().ref_count(bm.block_table(1)[0]) == 2);
  bm.check_invariants();
}

TEST_CASE("block manager: swap out and in pairs every block and keeps the order", "[block_manager][swap]") {
  BlockManager bm(4, 6, 4, false);
  REQUIRE(bm.allocate_slots(1, 12));
  const std::vector<BlockId> dev(bm.block_table(1).begin(), bm.block_table(1).end());
  std::vector<BlockCopy> out, in;
  REQUIRE(bm.swap_out(1, out));
  REQUIRE(out.size() == 3);
  for (std::size_t i = 0; i < 3; ++i) CHECK(out[i].src == dev[i]);
  CHECK(bm.num_held(1) == 0);
  CHECK(bm.num_free_device() == 6);
  CHECK(bm.num_free_host() == 1);
  REQUIRE(bm.allocate_slots(2, 20));  // someone else takes 5 device blocks
  CHECK_FALSE(bm.swap_in(1, in));     // 3 needed, 1 available
  CHECK(in.empty());
  bm.free(2);
  REQUIRE(bm.swap_in(1, in));
  REQUIRE(in.size() == 3);
  for (std::size_t i = 0; i < 3; ++i) {
    CHECK(in[i].src == out[i].dst);
    CHECK(in[i].dst == bm.block_table(1)[i]);
  }
  CHECK(bm.num_free_host() == 4);
  // Host pool too small: swap_out refuses and changes nothing.
  REQUIRE(bm.allocate_slots(3, 12));
  std::vector<BlockCopy> none;
  BlockManager small(4, 6, 2, false);
  REQUIRE(small.allocate_slots(1, 12));
  CHECK_FALSE(small.swap_out(1, none));
  CHECK(none.empty());
  CHECK(small.num_held(1) == 3);
  bm.check_invariants();
  small.check_invariants();
}

TEST_CASE("block manager: fork shares blocks, first write to a shared partial block copies it", "[block_manager][cow]") {
  BlockManager bm(4, 8, 0, false);
  REQUIRE(bm.allocate_slots(1, 6));  // blocks [b0 full, b1 with 2 tokens]
  bm.fork(1, 2);
  const BlockId b1 = bm.block_table(1)[1];
  CHECK(bm.device_pool().ref_count(b1) == 2);
  std::vector<BlockCopy> cow;
  REQUIRE(bm.allocate_slots(2, 7, /*num_computed_tokens=*/6, &cow));
  REQUIRE(cow.size() == 1);
  CHECK(cow[0].src == b1);
  CHECK(cow[0].dst == bm.block_table(2)[1]);
  CHECK(bm.block_table(1)[1] == b1);  // the source stays with the parent
  CHECK(bm.device_pool().ref_count(b1) == 1);
  CHECK(bm.block_table(2)[0] == bm.block_table(1)[0]);  // full block still shared
  cow.clear();
  REQUIRE(bm.allocate_slots(1, 7, 6, &cow));  // parent's block is no longer shared
  CHECK(cow.empty());
  bm.check_invariants();
}

TEST_CASE("block manager: CSR export matches block tables", "[block_manager][csr]") {
  BlockManager bm(4, 8, 0, false);
  REQUIRE(bm.allocate_slots(1, 5));
  REQUIRE(bm.allocate_slots(2, 8));
  const std::vector<RequestId> ids{1, 2};
  const std::vector<std::int64_t> lens{5, 8};
  const CsrBlockTables t = bm.export_csr(ids, lens);
  CHECK(t.indptr == std::vector<std::int32_t>{0, 2, 4});
  CHECK(t.last_page_len == std::vector<std::int32_t>{1, 4});
  CHECK(t.indices[0] == bm.block_table(1)[0]);
  CHECK(t.indices[3] == bm.block_table(2)[1]);
  CHECK(t.kv_len(0) == 5);
  CHECK(t.kv_len(1) == 8);
  const std::vector<std::int64_t> too_long{9, 8};
  CHECK_THROWS_AS(bm.export_csr(ids, too_long), std::out_of_range);
}

TEST_CASE("block manager: unknown request ids throw", "[block_manager]") {
  BlockManager bm(4, 8, 0, false);
  CHECK_THROWS_AS(bm.block_table(42), std::out_of_range);
  std::vector<BlockCopy> out;
  CHECK_THROWS_AS(bm.swap_out(42, out), std::out_of_range);
}

TEST_CASE("block manager: fork and transfer_reservation stay correct when the request map grows", "[block_manager][cow]") {
  // The request map is an open-addressing table: inserting the child or the receiver may move
  // every entry. ASan reports any use of the parent's entry from before the insertion.
  BlockManager bm(4, 4096, 0, false);
  REQUIRE(bm.allocate_slots(1, 6));
  REQUIRE(bm.set_reservation(2, 3000));
  for (RequestId child = 1000; child < 1300; ++child) {
    bm.fork(1, child);
    REQUIRE(bm.block_table(child).size() == 2);
    CHECK(bm.block_table(child)[0] == bm.block_table(1)[0]);
    bm.transfer_reservation(2, child + 10'000, 1);
    CHECK(bm.unused_reservation(child + 10'000) == 1);
  }
  CHECK(bm.device_pool().ref_count(bm.block_table(1)[0]) == 301);
  CHECK(bm.unused_reservation(2) == 3000 - 300);
  bm.check_invariants();
}
