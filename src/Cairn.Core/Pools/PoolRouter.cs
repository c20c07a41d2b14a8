using System.Collections.Concurrent;
using Cairn.Core.Storage;

namespace Cairn.Core.Pools;

/// <summary>An engine that can back pools, by kind ("embedded", "zfs"). Made at first use, so a missing tool only matters to its pools.</summary>
public sealed class EngineProvider(string kind, Func<IVolumeEngine> create) : IDisposable
{
    private readonly Lazy<IVolumeEngine> _engine = new(create, LazyThreadSafetyMode.ExecutionAndPublication);

    public string Kind { get; } = kind;

    public IVolumeEngine Engine => _engine.Value;

    public bool Created => _engine.IsValueCreated;

    public void Dispose()
    {
        if (_engine.IsValueCreated) _engine.Value.Dispose();
    }
}

/// <summary>
/// The engine every caller sees: it routes each name by its first component (the pool) to the engine that backs
/// that pool. A pool exists only once bound (created with <c>cairn pool create</c>, declared in the configuration, or
/// adopted from an older data directory); a name in any other pool is an error, never a new pool.
/// </summary>
public sealed class PoolRouter : IVolumeEngine
{
    private readonly ConcurrentDictionary<string, IVolumeEngine> _pools = new(StringComparer.Ordinal);

    /// <inheritdoc/>
    public string Kind => "pools";

    /// <summary>What every pool's engine can do (the intersection); see <see cref="CapabilitiesOf"/> for one name.</summary>
    public EngineCapabilities Capabilities =>
        _pools.Values.Distinct().Aggregate(~EngineCapabilities.None, (c, e) => c & e.Capabilities) is var all && _pools.IsEmpty ? EngineCapabilities.None : all;

    /// <summary>Makes a pool's names reach <paramref name="engine"/>.</summary>
    public void Bind(string pool, IVolumeEngine engine) => _pools[pool] = engine;

    /// <summary>Forgets a pool.</summary>
    public void Unbind(string pool) => _pools.TryRemove(pool, out _);

    /// <summary>Bound pool names.</summary>
    public IReadOnlyCollection<string> Pools => [.. _pools.Keys.Order(StringComparer.Ordinal)];

    /// <summary>Whether a pool is bound.</summary>
    public bool Has(string pool) => _pools.ContainsKey(pool);

    /// <summary>The pool of a dataset or snapshot name.</summary>
    public static string PoolOf(string name)
    {
        var end = name.AsSpan().IndexOfAny('/', '@');
        return end < 0 ? name : name[..end];
    }

    /// <summary>The engine behind <paramref name="name"/>'s pool, or a NotFound error that says how to create it.</summary>
    public IVolumeEngine EngineFor(string name)
    {
        var pool = PoolOf(name);
        if (_pools.TryGetValue(pool, out var e)) return e;
        Names.ValidateDataset(pool);
        throw CairnException.NotFound($"pool {pool} does not exist (see `cairn pool list`; create it with `cairn pool create {pool}`)");
    }

    /// <summary>What the engine behind <paramref name="name"/> can do.</summary>
    public EngineCapabilities CapabilitiesOf(string name) => EngineFor(name).Capabilities;

    public ValueTask<PoolInfo> AttachPoolAsync(string pool, CancellationToken ct = default) => EngineFor(pool).AttachPoolAsync(pool, ct);

    public ValueTask<IReadOnlyList<string>> ListPoolsAsync(CancellationToken ct = default) => new(Pools.ToList());

    public ValueTask<DatasetInfo> CreateVolumeAsync(string name, long size, bool parents = false, IReadOnlyDictionary<string, string>? properties = null, CancellationToken ct = default) =>
        EngineFor(name).CreateVolumeAsync(name, size, parents, properties, ct);

    public ValueTask<DatasetInfo> CreateFolderAsync(string name, bool parents = false, CancellationToken ct = default) =>
        EngineFor(name).CreateFolderAsync(name, parents, ct);

    public ValueTask<SnapshotInfo> CreateSnapshotAsync(string dataset, string snapshot, CancellationToken ct = default) =>
        EngineFor(dataset).CreateSnapshotAsync(dataset, snapshot, ct);

    public ValueTask<DatasetInfo> CloneAsync(string source, string snapshot, string target, bool parents = false, IReadOnlyDictionary<string, string>? properties = null, CancellationToken ct = default)
    {
        SamePool(source, target);
        return EngineFor(target).CloneAsync(source, snapshot, target, parents, properties, ct);
    }

    public ValueTask DestroyAsync(string name, bool recursive = false, CancellationToken ct = default) => EngineFor(name).DestroyAsync(name, recursive, ct);

    public ValueTask DestroySnapshotAsync(string dataset, string snapshot, CancellationToken ct = default) => EngineFor(dataset).DestroySnapshotAsync(dataset, snapshot, ct);

    public ValueTask<DatasetInfo> ResizeAsync(string name, long newSize, CancellationToken ct = default) => EngineFor(name).ResizeAsync(name, newSize, ct);

    /// <summary>Splits the batch by engine (order kept within each), runs the parts concurrently, and merges the results in order.</summary>
    public async ValueTask<IReadOnlyList<EngineOpResult>> ApplyAsync(IReadOnlyList<EngineOp> ops, CancellationToken ct = default)
    {
        var results = new EngineOpResult[ops.Count];
        var groups = new Dictionary<IVolumeEngine, List<int>>();
        for (int i = 0; i < ops.Count; i++)
        {
            try
            {
                if (ops[i] is EngineOp.CloneSnapshot c) SamePool(c.Source, c.Target);
                if (ops[i] is EngineOp.Rename r && PoolOf(r.Name) != PoolOf(r.NewName))
                    throw CairnException.Invalid($"cannot rename {r.Name} to {r.NewName}: a dataset stays in its pool");
                var engine = EngineFor(KeyOf(ops[i]));
                if (!groups.TryGetValue(engine, out var list)) groups[engine] = list = [];
                list.Add(i);
            }
            catch (CairnException e)
            {
                results[i] = new EngineOpResult(ops[i], e);
            }
        }
        if (groups.Count == 1 && groups.First().Value.Count == ops.Count) return await groups.First().Key.ApplyAsync(ops, ct);
        await Task.WhenAll(groups.Select(async g =>
        {
            var part = await g.Key.ApplyAsync(g.Value.Select(i => ops[i]).ToList(), ct);
            for (int k = 0; k < part.Count; k++) results[g.Value[k]] = part[k];
        }));
        return results;
    }

    /// <summary>The name an op is routed by.</summary>
    public static string KeyOf(EngineOp op) => op switch
    {
        EngineOp.CreateVolume c => c.Name,
        EngineOp.CreateFolder c => c.Name,
        EngineOp.CreateSnapshot s => s.Dataset,
        EngineOp.CloneSnapshot c => c.Target,
        EngineOp.Destroy d => d.Name,
        EngineOp.DestroySnapshot d => d.Dataset,
        EngineOp.Resize r => r.Name,
        EngineOp.Rename r => r.Name,
        EngineOp.RenameSnapshot r => r.Dataset,
        EngineOp.Rollback r => r.Dataset,
        EngineOp.Promote p => p.Name,
        null => throw CairnException.Invalid("operation is null"),
        _ => throw new CairnException(ErrorKind.NotSupported, $"operation {op.GetType().Name} is not supported"),
    };

    public ValueTask<DatasetInfo?> GetAsync(string name, CancellationToken ct = default) =>
        _pools.TryGetValue(PoolOf(name), out var e) ? e.GetAsync(name, ct) : new((DatasetInfo?)null);

    public ValueTask<SnapshotInfo?> GetSnapshotAsync(string dataset, string snapshot, CancellationToken ct = default) =>
        _pools.TryGetValue(PoolOf(dataset), out var e) ? e.GetSnapshotAsync(dataset, snapshot, ct) : new((SnapshotInfo?)null);

    /// <summary>With a root: that pool's engine. Without: every bound pool, in name order.</summary>
    public async ValueTask<IReadOnlyList<DatasetInfo>> ListAsync(string? root = null, CancellationToken ct = default)
    {
        if (root is not null) return await EngineFor(root).ListAsync(root, ct);
        var all = new List<DatasetInfo>();
        foreach (var pool in Pools) all.AddRange(await _pools[pool].ListAsync(pool, ct));
        return all;
    }

    public async ValueTask<IReadOnlyList<SnapshotInfo>> ListSnapshotsAsync(string? dataset = null, CancellationToken ct = default)
    {
        if (dataset is not null) return await EngineFor(dataset).ListSnapshotsAsync(dataset, ct);
        // Several pools may share one engine: ask each engine once, keep the snapshots of bound pools.
        var all = new List<SnapshotInfo>();
        foreach (var engine in _pools.Values.Distinct())
            all.AddRange((await engine.ListSnapshotsAsync(null, ct)).Where(s => _pools.TryGetValue(PoolOf(s.Dataset), out var e) && e == engine));
        return all;
    }

    public ValueTask<IBlockDevice> OpenAsync(string name, CancellationToken ct = default) => EngineFor(name).OpenAsync(name, ct);

    public ValueTask<IBlockDevice> OpenSnapshotAsync(string dataset, string snapshot, CancellationToken ct = default) =>
        EngineFor(dataset).OpenSnapshotAsync(dataset, snapshot, ct);

    public ValueTask<string?> GetBackingPathAsync(string dataset, string? snapshot = null, CancellationToken ct = default) =>
        EngineFor(dataset).GetBackingPathAsync(dataset, snapshot, ct);

    public ValueTask<PoolInfo> GetPoolInfoAsync(string pool, CancellationToken ct = default) => EngineFor(pool).GetPoolInfoAsync(pool, ct);

    private static void SamePool(string source, string target)
    {
        if (PoolOf(source) != PoolOf(target))
            throw CairnException.Invalid($"cannot clone {source} into {target}: a clone stays in its origin's pool");
    }

    /// <summary>The engines belong to their providers, which dispose them.</summary>
    public void Dispose() { }
}
