//! custody-log benchmarks: proofs from a 1M-entry node map, append throughput, and the
//! client-side checks.
//!
//! Run with `cargo bench -p custody-log --bench log`. Bench names carry the number of stored
//! nodes each proof reads, which is what a database-backed ledger pays per request.

use std::collections::HashMap;
use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use custody_log::{
    Checkpoint, EntryProof, Frontier, Hash, KeyName, NodeId, SignedCheckpoint, SignerKey,
    build_consistency_proof, build_inclusion_proof, build_root, consistency_proof_node_ids,
    inclusion_proof_node_ids, leaf_hash, root_node_ids, verify_inclusion,
};

const ONE_MILLION: u64 = 1_000_000;

fn leaf(i: u64) -> Hash {
    leaf_hash(&i.to_le_bytes())
}

/// Every node of a 1M-leaf log, as the ledger's `nodes` table would hold it.
fn node_table(n: u64) -> HashMap<NodeId, Hash> {
    let mut frontier = Frontier::new();
    let mut nodes = Vec::new();
    let mut table = HashMap::with_capacity((2 * n) as usize);
    for i in 0..n {
        nodes.clear();
        frontier.push(leaf(i), &mut nodes).unwrap_or_default();
        table.extend(nodes.iter().map(|n| (n.id, n.hash)));
    }
    table
}

/// One "query": pick the named rows out of the table.
fn fetch(table: &HashMap<NodeId, Hash>, ids: &[NodeId]) -> HashMap<NodeId, Hash> {
    ids.iter()
        .filter_map(|id| table.get(id).map(|h| (*id, *h)))
        .collect()
}

fn proofs(c: &mut Criterion) {
    let table = node_table(ONE_MILLION);
    let mut g = c.benchmark_group("proof_1m");
    // Current size 1M and an older, odd size: both served from the same table.
    for size in [ONE_MILLION, 999_999] {
        let reads = inclusion_proof_node_ids(size / 3, size).map_or(0, |v| v.len());
        g.bench_function(
            BenchmarkId::new("inclusion", format!("size {size}, {reads} node reads")),
            |b| {
                let mut i = 0u64;
                b.iter(|| {
                    i = (i + 7919) % size;
                    let ids = inclusion_proof_node_ids(i, size).unwrap_or_default();
                    let fetched = fetch(&table, &ids);
                    black_box(build_inclusion_proof(i, size, &fetched).map(|p| p.path.len()))
                })
            },
        );
    }
    let old = 654_321;
    let reads = consistency_proof_node_ids(old, ONE_MILLION).map_or(0, |v| v.len());
    g.bench_function(
        BenchmarkId::new("consistency", format!("{old} to 1M, {reads} node reads")),
        |b| {
            b.iter(|| {
                let ids = consistency_proof_node_ids(old, ONE_MILLION).unwrap_or_default();
                let fetched = fetch(&table, &ids);
                black_box(build_consistency_proof(old, ONE_MILLION, &fetched).map(|p| p.path.len()))
            })
        },
    );
    let reads = root_node_ids(old).map_or(0, |v| v.len());
    g.bench_function(
        BenchmarkId::new("root_at", format!("size {old}, {reads} node reads")),
        |b| {
            b.iter(|| {
                let ids = root_node_ids(old).unwrap_or_default();
                black_box(build_root(old, &fetch(&table, &ids)).ok())
            })
        },
    );
    g.finish();
}

fn append(c: &mut Criterion) {
    // Start from a 1M-leaf frontier so carries are as deep as in a real log.
    let table = node_table(1 << 20);
    let start = Frontier::from_nodes(1 << 20, &table).unwrap_or_default();
    drop(table);
    let mut g = c.benchmark_group("append");
    for batch in [1usize, 100, 1000, 10_000] {
        let leaves: Vec<Hash> = (0..batch as u64).map(leaf).collect();
        // Leaves per second; each batch also hashes about one interior node per leaf.
        let mut probe = start.clone();
        let nodes = probe.append(&leaves).map_or(0, |a| a.nodes.len());
        let interior = nodes.saturating_sub(batch);
        g.throughput(Throughput::Elements(batch as u64));
        g.bench_function(
            BenchmarkId::new(
                "batch",
                format!("{batch} leaves, {nodes} nodes stored, {interior} hashed"),
            ),
            |b| {
                b.iter_batched(
                    || start.clone(),
                    |mut f| black_box(f.append(&leaves).map(|a| a.root)),
                    criterion::BatchSize::SmallInput,
                )
            },
        );
    }
    g.finish();
}

fn client(c: &mut Criterion) {
    let mut g = c.benchmark_group("client");
    let envelope = vec![0x5a; 1024];
    g.throughput(Throughput::Bytes(1024));
    g.bench_function("leaf_hash 1KiB", |b| {
        b.iter(|| leaf_hash(black_box(&envelope)))
    });
    g.throughput(Throughput::Elements(1));

    let table = node_table(1 << 16);
    let size = 1 << 16;
    let root = build_root(size, &table).unwrap_or_else(|_| Hash::new([0; 32]));
    let index = 12_345;
    let path = build_inclusion_proof(index, size, &table)
        .map(|p| p.path)
        .unwrap_or_default();
    g.bench_function("verify_inclusion 64Ki", |b| {
        b.iter(|| verify_inclusion(&leaf(index), index, size, black_box(&path), &root).is_ok())
    });

    let Ok(name) = KeyName::new("bench.custody.example/log") else {
        return;
    };
    let key = SignerKey::from_seed(name, &[1; 32]);
    let Ok(cp) = Checkpoint::new("bench.custody.example/log", size, root) else {
        return;
    };
    g.bench_function("sign_checkpoint", |b| {
        b.iter(|| SignedCheckpoint::sign(black_box(&cp), &key).is_ok())
    });
    let Ok(signed) = SignedCheckpoint::sign(&cp, &key) else {
        return;
    };
    let vkey = key.verifier();
    g.bench_function("verify_checkpoint", |b| {
        b.iter(|| black_box(&signed).verify(&vkey).is_ok())
    });
    let Ok(file) = EntryProof::new(index, leaf(index), path.clone(), &signed, Some(&vkey)) else {
        return;
    };
    let json = file.to_json();
    g.bench_function("entry_proof parse+verify", |b| {
        b.iter(|| {
            EntryProof::from_json(black_box(json.as_bytes()))
                .and_then(|p| p.verify(None, &vkey))
                .is_ok()
        })
    });
    g.finish();
}

criterion_group!(benches, proofs, append, client);
criterion_main!(benches);
